"""Experiment runs as the Experiments page follows them. A run started, resumed or replayed here is queued in the
database (issue 22), and the process's own worker (ui/service/experiments/worker.py, on a thread while there are
runs to draw) draws it, beside any `simulacra experiment worker`s on PostgreSQL. A job is this process's view of
one run: its progress read from the database, so a rerun, a reload or a second tab finds it again whoever draws
it, and Stop works on it from here (the run is then stored as `stopped`, and resumes where it stopped)."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

from personas.suites import Suite
from storage.experiments import UNFINISHED
from ui.service.errors import DATABASE_ERRORS, USER_ERRORS, ServiceError
from ui.service.experiments.service import Experiments, RunRow
from ui.service.experiments.worker import ALONE, CLAIM, Worker, worker_name

log = logging.getLogger(__name__)

KEEP_FINISHED = 32  # finished jobs kept, so a page that comes back still sees how its run ended
IDLE_EXIT_S = 10.0  # the process's worker ends once no run was unfinished this long (the next run starts it again)


@dataclass(frozen=True)
class RunProgress:
    """Where a job stands, as a progress bar shows it; `status` is the run's (running until the job ends)."""

    run_id: int
    kind: str  # "run", "resume" or "replay"
    suite: str
    samples_done: int
    samples_total: int
    cells_done: int
    cells_total: int
    samples_per_s: float | None
    seconds_left: float | None
    done: bool
    status: str
    error: str | None
    stopping: bool

    @property
    def fraction(self) -> float:
        if self.samples_total <= 0:
            return 1.0 if self.done else 0.0
        return min(1.0, self.samples_done / self.samples_total)

    def summary(self) -> str:
        """One line of our own words and numbers (safe as Markdown)."""
        parts = [
            f"cells {self.cells_done}/{self.cells_total}",
            f"samples {self.samples_done}/{self.samples_total}",
        ]
        if self.samples_per_s is not None:
            parts.append(f"{self.samples_per_s:.2f} samples/s")
        if self.seconds_left is not None and not self.done:
            parts.append(f"about {_duration(self.seconds_left)} left")
        if self.stopping and not self.done:
            parts.append("stopping…")
        return " · ".join(parts)


def _duration(seconds: float) -> str:
    seconds = max(0, round(seconds))
    if seconds < 90:
        return f"{seconds} s"
    minutes = round(seconds / 60)
    return f"{minutes} min" if minutes < 90 else f"{minutes / 60:.1f} h"


class ExperimentJob:
    """One run as this process follows it: `snapshot`s read it from the database."""

    def __init__(self, service: Experiments, run_id: int, kind: str, row: RunRow) -> None:
        self.service = service
        self.run_id = run_id
        self.kind = kind
        self._suite = row.suite
        self._done_at_start = row.samples_done
        self._started = time.monotonic()
        self._last = row

    def stop(self) -> None:
        try:
            self.service.stop(self.run_id)
        except USER_ERRORS:  # it ended (or was deleted) meanwhile: nothing left to stop
            return
        _workers.stop_run(self.service, self.run_id)

    def _row(self) -> RunRow:
        if self._last.status in UNFINISHED:  # an ended run no longer changes: no need to read it again
            try:
                self._last = self.service.run(self.run_id)
            except (*USER_ERRORS, *DATABASE_ERRORS) as e:  # deleted, or its database gone: failed, with why
                self._last = self._last.model_copy(update={"status": "failed", "error": str(e)})
        return self._last

    @property
    def done(self) -> bool:
        return self._row().status not in UNFINISHED

    def snapshot(self) -> RunProgress:
        row = self._row()
        drawn = row.samples_done - self._done_at_start
        elapsed = time.monotonic() - self._started
        rate = drawn / elapsed if drawn > 0 and elapsed > 0 else None
        left = (row.samples_total - row.samples_done) / rate if rate else None
        done = row.status not in UNFINISHED
        return RunProgress(
            self.run_id,
            self.kind,
            self._suite,
            row.samples_done,
            row.samples_total,
            row.cells if done else row.cells_done,
            row.cells,
            rate,
            left,
            done,
            row.status,
            row.error if row.status == "failed" else None,
            row.stopping,
        )


class _ProcessWorkers:
    """This process's worker for each database it serves, on a thread while it has work: it ends IDLE_EXIT_S
    after its last, and the next run started, resumed or seen unfinished here starts it again."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._workers: dict[int, Worker] = {}  # by id(engine)
        self._alive: set[int] = set()

    def ensure(self, service: Experiments) -> None:
        key = id(service.engine)
        with self._lock:
            worker = self._workers.get(key)
            if worker is None:
                claim = CLAIM if service.shares_runs() else ALONE  # on SQLite it is the one worker
                worker = Worker(
                    service.engine, service.registry, service.masks_dir, name=worker_name("app"), claim=claim
                )
                self._workers[key] = worker
            if key in self._alive:
                worker.wake.set()
                return
            self._alive.add(key)
        threading.Thread(target=self._work, args=(key, worker), name="simulacra-experiment-worker", daemon=True).start()

    def retire(self, service: Experiments, timeout: float) -> None:
        """End this process's worker for the service's database, giving back what it holds; wait for it."""
        with self._lock:
            worker = self._workers.pop(id(service.engine), None)
        if worker is None:
            return
        worker.shutdown.set()
        worker.wake.set()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if id(service.engine) not in self._alive:
                    return
            time.sleep(0.05)

    def stop_run(self, service: Experiments, run_id: int) -> None:
        with self._lock:
            worker = self._workers.get(id(service.engine))
        if worker is not None:
            worker.stop_run(run_id)

    def _work(self, key: int, worker: Worker) -> None:
        def may_exit() -> bool:
            with self._lock:
                if worker.wake.is_set():
                    return False
                self._alive.discard(key)
                return True

        try:
            for _ in worker.work(idle_exit=IDLE_EXIT_S, may_exit=may_exit):
                pass
        except DATABASE_ERRORS as e:  # the database refused or went away: the next run started here tries again
            log.warning("the experiment worker %s stopped: %s", worker.name, e)
        except Exception:  # noqa: BLE001 - a bug must not kill the server thread silently
            log.exception("the experiment worker %s failed", worker.name)
        with self._lock:
            self._alive.discard(key)


_workers = _ProcessWorkers()


class ExperimentJobs:
    """Every run this process follows, by run id."""

    def __init__(self) -> None:
        self._jobs: dict[int, ExperimentJob] = {}
        self._lock = threading.Lock()

    def start(
        self,
        service: Experiments,
        suite: Suite,
        *,
        samples: int | None = None,
        lanes: list[str] | None = None,
        judges: bool = False,
    ) -> ExperimentJob:
        """Check and queue a new run of `suite` (nothing is saved when a check fails), for this process's worker
        (and any other) to draw.

        Raises:
            SuiteError, ModelUnavailable, MaskError, ServiceError: see `Experiments.start`.
        """
        run_id = service.start(suite, samples=samples, lanes=lanes, judges=judges)
        return self._follow(service, run_id, "run")

    def resume(self, service: Experiments, run_id: int) -> ExperimentJob:
        """Queue again what a stopped, failed or interrupted run lacks.

        Raises:
            NotFound: no such run. ServiceError: it is complete, or already running.
        """
        if self.running(run_id):
            raise ServiceError(f"run {run_id} is already running")
        service.requeue(run_id)
        return self._follow(service, run_id, "resume")

    def replay(self, service: Experiments, run_id: int) -> ExperimentJob:
        """Check and queue a replay of a run (the same seeds again, as a new run); the replay's own run id is
        the job's.

        Raises:
            NotFound: no such run. ModelUnavailable, MaskError, ServiceError: see `Experiments.start_replay`.
        """
        return self._follow(service, service.start_replay(run_id), "replay")

    def watch(self, service: Experiments) -> None:
        """Follow every queued or running run of the database too (started elsewhere, or left by a process that
        was killed), and let this process's worker draw them."""
        unfinished = [row for row in service.runs() if row.status in UNFINISHED]
        for row in unfinished:
            if self.get(row.id) is None:
                self._follow(service, row.id, "run", row)
        if unfinished:
            _workers.ensure(service)

    def retire(self, service: Experiments, timeout: float = 30.0) -> None:
        """This process stops drawing runs of the service's database (what it holds is given back for other
        workers); a run started here later starts its worker again."""
        _workers.retire(service, timeout)

    def _follow(self, service: Experiments, run_id: int, kind: str, row: RunRow | None = None) -> ExperimentJob:
        job = ExperimentJob(service, run_id, kind, row or service.run(run_id))
        with self._lock:
            self._jobs.pop(run_id, None)
            self._jobs[run_id] = job
            finished = [key for key, kept in self._jobs.items() if kept._last.status not in UNFINISHED]
            for key in finished[: max(0, len(finished) - KEEP_FINISHED)]:
                del self._jobs[key]
        _workers.ensure(service)
        return job

    def get(self, run_id: int) -> ExperimentJob | None:
        with self._lock:
            return self._jobs.get(run_id)

    def running(self, run_id: int | None = None) -> list[ExperimentJob]:
        """The runs followed here that are still queued or drawing (of one run, when given), oldest first."""
        with self._lock:
            jobs = list(self._jobs.values())
        return [j for j in jobs if (run_id is None or j.run_id == run_id) and not j.done]

    def stop(self, run_id: int) -> bool:
        """Press Stop on a run followed here; it is stored as `stopped` once the samples being drawn end."""
        jobs = self.running(run_id)
        for job in jobs:
            job.stop()
        return bool(jobs)


_manager = ExperimentJobs()


def experiment_jobs() -> ExperimentJobs:
    """The process's one manager: every session of the web app shares it."""
    return _manager
