"""Experiment runs as server-side jobs, like turns (ui/service/conversations/jobs.py): a run or a resume draws its
samples on a thread of the server process, owned by one process-wide manager, so the Experiments page stays
responsive, a rerun, a reload or a second tab finds it again, and only Stop ends it early (the run is then stored as
`stopped`, and resumes where it stopped)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from personas.suites import Suite
from ui.service.background import BackgroundJobs
from ui.service.errors import NotFound, ServiceError
from ui.service.experiments.service import Experiments, Progress, RunRow

KEEP_FINISHED = 32  # finished jobs kept, so a page that comes back still sees how its run ended


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
    """One run drawing its samples; the worker writes it under its lock, pages read `snapshot`s."""

    def __init__(self, run_id: int, kind: str, row: RunRow) -> None:
        self.run_id = run_id
        self.kind = kind
        self.cancel = threading.Event()
        self._lock = threading.Lock()
        self._suite = row.suite
        self._done_at_start = row.samples_done
        self._samples_done = self._done_at_start
        self._samples_total = row.samples_total
        self._cells_total = row.cells
        self._cells_done = 0
        self._started = time.monotonic()
        self._status = "running"
        self._error: str | None = None
        self._done = False

    def stop(self) -> None:
        self.cancel.set()

    @property
    def done(self) -> bool:
        with self._lock:
            return self._done

    def snapshot(self) -> RunProgress:
        with self._lock:
            drawn = self._samples_done - self._done_at_start
            elapsed = time.monotonic() - self._started
            rate = drawn / elapsed if drawn > 0 and elapsed > 0 else None
            left = (self._samples_total - self._samples_done) / rate if rate else None
            return RunProgress(
                self.run_id,
                self.kind,
                self._suite,
                self._samples_done,
                self._samples_total,
                self._cells_done,
                self._cells_total,
                rate,
                left,
                self._done,
                self._status,
                self._error,
                self.cancel.is_set(),
            )

    def _advance(self, progress: Progress) -> None:
        with self._lock:
            self._samples_done = progress.samples_done
            self._cells_done = progress.cells_done
            if progress.status != "running":
                self._status = progress.status

    def _finish(self, error: str | None = None) -> None:
        """`_advance` has already kept the last status the run reported (complete, stopped, failed)."""
        with self._lock:
            if error is not None:
                self._status = "failed"
            elif self._status == "running":  # ended without saying how: the run's own row has the truth
                self._status = "complete"
            self._error = error
            self._done = True


class ExperimentJobs:
    """Every experiment job of this process, by run id."""

    def __init__(self) -> None:
        self._jobs = BackgroundJobs[ExperimentJob](
            keep_finished=KEEP_FINISHED, thread_name="simulacra-experiment", noun="experiment run"
        )

    def start(
        self,
        service: Experiments,
        suite: Suite,
        *,
        samples: int | None = None,
        lanes: list[str] | None = None,
        judges: bool = False,
    ) -> ExperimentJob:
        """Check and save a new run of `suite` (nothing is saved when a check fails), then draw it in the
        background.

        Raises:
            SuiteError, ModelUnavailable, MaskError, ServiceError: see `Experiments.start`.
        """
        run_id = service.start(suite, samples=samples, lanes=lanes, judges=judges)
        return self._launch(service, run_id, "run", lambda cancel: service.execute(run_id, cancel))

    def resume(self, service: Experiments, run_id: int) -> ExperimentJob:
        """Draw in the background what a stopped, failed or interrupted run lacks.

        Raises:
            NotFound: no such run. ServiceError: it is complete, or already running here.
        """
        if self.running(run_id):
            raise ServiceError(f"run {run_id} is already running")
        row = _row(service, run_id)
        if row.status == "complete":
            raise ServiceError(f"run {run_id} is complete: nothing to resume")
        return self._launch(service, run_id, "resume", lambda cancel: service.resume(run_id, cancel), row)

    def replay(self, service: Experiments, run_id: int) -> ExperimentJob:
        """Check and save a replay of a run (the same seeds again, as a new run), then draw it in the background;
        the replay's own run id is the job's.

        Raises:
            NotFound: no such run. ModelUnavailable, MaskError, ServiceError: see `Experiments.start_replay`.
        """
        replay_id = service.start_replay(run_id)
        return self._launch(service, replay_id, "replay", lambda cancel: service.execute(replay_id, cancel))

    def _launch(
        self,
        service: Experiments,
        run_id: int,
        kind: str,
        updates: Callable[[threading.Event], Iterator[Progress]],
        row: RunRow | None = None,
    ) -> ExperimentJob:
        job = ExperimentJob(run_id, kind, row or _row(service, run_id))

        def work() -> None:
            for progress in updates(job.cancel):
                job._advance(progress)

        return self._jobs.start(run_id, job, work, job._finish)

    def get(self, run_id: int) -> ExperimentJob | None:
        return self._jobs.get(run_id)

    def running(self, run_id: int | None = None) -> list[ExperimentJob]:
        """The jobs still drawing samples (of one run, when given), oldest first."""
        return [j for j in self._jobs.jobs() if not j.done and (run_id is None or j.run_id == run_id)]

    def stop(self, run_id: int) -> bool:
        """Ask a run's job to stop; its run is stored as `stopped` once the samples being drawn end."""
        jobs = self.running(run_id)
        for job in jobs:
            job.stop()
        return bool(jobs)


def _row(service: Experiments, run_id: int) -> RunRow:
    for row in service.runs():
        if row.id == run_id:
            return row
    raise NotFound(f"there is no run {run_id}")


_manager = ExperimentJobs()


def experiment_jobs() -> ExperimentJobs:
    """The process's one manager: every session of the web app shares it."""
    return _manager
