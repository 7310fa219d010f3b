"""Experiments (issue 12): run a suite's cells (lane x prompt), each drawing seeded samples that are saved as
ordinary conversation messages and linked to the run, so a run killed at any point resumes where it stopped
and a finished one replays on the same seeds. A started run is queued in the database for workers to draw
(issue 22: ui/service/experiments/worker.py). Plain Python for the CLI and the Experiments page."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session

from personas.suites import Suite, SuiteError, list_suites, load_suite
from simulator.registry import Registry
from simulator.values import Steering
from storage import experiments as store
from storage import repo
from storage import run_leases as leases
from ui.service.errors import ServiceError
from ui.service.experiments.activation_checks import check_activations
from ui.service.experiments.aggregate import build_report
from ui.service.experiments.cells import Groups
from ui.service.experiments.directions import fitting_scorer, projection_scorers
from ui.service.experiments.judges import check_judges
from ui.service.experiments.plan import check_lanes, create_cells, samples_per_cell
from ui.service.experiments.replay import ReplayReport, compare_runs
from ui.service.experiments.report import RunReport
from ui.service.experiments.report_models import RunRow
from ui.service.experiments.worker import CLAIM, Worker, worker_name
from ui.service.vectors.service import Vectors

__all__ = ["Experiments", "Progress", "ReplayReport", "RunReport", "RunRow"]


@dataclass(frozen=True)
class Progress:
    """Where a run stands after each sample: what a progress bar shows."""

    run_id: int
    samples_done: int
    samples_total: int
    cells_done: int
    cells_total: int
    elapsed_s: float
    status: str = "running"
    samples_before: int = 0  # drawn before this process started following it (a resumed run's)

    @property
    def samples_per_s(self) -> float | None:
        drawn = self.samples_done - self.samples_before
        return drawn / self.elapsed_s if self.elapsed_s > 0 and drawn > 0 else None


class Experiments:
    """Suites, runs, resume, replay and reports over one database and one model registry."""

    def __init__(
        self, engine: Engine, registry: Registry, masks_dir: Path | None = None, suites_dir: Path | None = None
    ) -> None:
        self.engine = engine
        self.registry = registry
        self.masks_dir = masks_dir
        self.suites_dir = suites_dir

    @classmethod
    def of(cls, workspace: Any) -> Experiments:
        """The experiments of a `ui.service.workspace.Workspace` (suites of your own in its data folder)."""
        settings = workspace.settings
        return cls(workspace.engine, workspace.registry, settings.resolved_masks_dir, settings.data_dir / "suites")

    # -- suites --------------------------------------------------------------------------------------

    def suites(self) -> tuple[list[Suite], list[SuiteError]]:
        """Built-in suites, then yours, and why any file of yours was left out."""
        return list_suites(self.suites_dir)

    def suite(self, name_or_path: str) -> Suite:
        """Raises: SuiteError: no such suite, or its file is broken."""
        return load_suite(name_or_path, self.suites_dir)

    # -- runs ----------------------------------------------------------------------------------------

    def start(
        self, suite: Suite, *, samples: int | None = None, lanes: list[str] | None = None, judges: bool = False
    ) -> int:
        """Check the suite (with this run's samples and lanes) against the models and masks, then save the run
        and its cells, queued for workers; nothing is saved when a check fails. Returns the run id; `execute`
        draws it here (and the app's worker, or `simulacra experiment worker`s, draw queued runs).
        With `judges`, the suite's judge scorers grade every sample (a model call each); without, they stay n/a.

        Raises:
            SuiteError: the run's samples or lanes make an invalid suite (e.g. samples 0 or over 1000).
            ModelUnavailable, MaskError, ServiceError: a lane or a judge cannot run (see `check_lanes`).
        """
        suite = suite.with_run_options(samples=samples, lanes=list(lanes) if lanes else None)
        checked = check_lanes(suite, self.registry, self.masks_dir)
        check_activations(suite, self.registry, Vectors(self.engine, self.registry), checked)
        if judges:
            check_judges(suite, self.registry)
        return self._save_run(suite, {c.lane.model: c.sha256 for c in checked}, checked, judges=judges)

    def _save_run(
        self,
        suite: Suite,
        shas: dict[str, Any],
        checked: list[Any],
        replay_of: int | None = None,
        *,
        judges: bool = False,
        groups: Groups | None = None,
    ) -> int:
        snapshot = suite.model_dump(mode="json", exclude_none=True)
        per_cell = samples_per_cell(suite)
        cells = len(suite.lanes) * len(suite.prompts)
        with Session(self.engine) as session:
            experiment = store.experiment_for(session=session, suite=snapshot)
            assert experiment.id is not None
            run = store.create_run(
                session=session,
                experiment_id=experiment.id,
                settings={
                    "samples": suite.samples,
                    "lanes": suite.lanes,
                    "seed": suite.seed,
                    "judges": judges,
                    "groups": (groups or Groups()).record(),  # a replay draws its run's groups again
                },
                model_sha256=shas,
                cells_total=cells,
                samples_total=cells * per_cell,
                replay_of=replay_of,
                whole=draws_whole(suite),
            )
        assert run.id is not None
        create_cells(self.engine, run.id, suite, checked)
        return run.id

    def execute(self, run_id: int, cancel: threading.Event | None = None) -> Iterator[Progress]:
        """Draw the run in this thread, as a worker that takes only its work (on PostgreSQL other workers may
        share it), yielding progress after each sample; return once it has ended: complete, stopped (`cancel` was
        set: Stop) or failed (a reply failed: resume retries it). A suite that fits a direction is drawn whole,
        in its stages' order (ui.service.experiments.stages).

        Raises:
            NotFound: there is no such run.
        """
        with Session(self.engine) as session:
            run = store.get_run(session=session, run_id=run_id)
        claim = CLAIM if self.shares_runs() else max(1, run.cells_total)  # alone, it draws every cell at once
        worker = Worker(self.engine, self.registry, self.masks_dir, name=worker_name(f"run-{run_id}"), claim=claim)
        started, before, stopping = time.monotonic(), run.samples_done, False
        for _ in worker.work(run_id=run_id):
            if cancel is not None and cancel.is_set() and not stopping:
                stopping = True
                self.stop(run_id)
                worker.stop_run(run_id)
            yield self._progress(run_id, started, before)
        yield self._progress(run_id, started, before)

    def _progress(self, run_id: int, started: float, before: int) -> Progress:
        with Session(self.engine) as session:
            counts = store.run_counts(session=session, run_id=run_id)
        elapsed = time.monotonic() - started
        return Progress(
            run_id,
            counts.samples_done,
            counts.samples_total,
            counts.cells_done,
            counts.cells_total,
            elapsed,
            counts.status,
            before,
        )

    def shares_runs(self) -> bool:
        """Whether workers can share this database's runs: PostgreSQL's row locks let them; SQLite has one
        writer, so there the app (or `simulacra experiment run`) is the one worker."""
        return self.engine.dialect.name == "postgresql"

    def worker(self, *, claim: int = CLAIM) -> Worker:
        """A worker drawing any queued run of this database (`Worker.work`)."""
        return Worker(self.engine, self.registry, self.masks_dir, claim=claim)

    def stop(self, run_id: int) -> None:
        """Press Stop: the workers drawing the run let go of it within a second, and it ends `stopped`.

        Raises:
            NotFound: no such run. ServiceError: it has already ended.
        """
        with Session(self.engine) as session:
            status = store.get_run(session=session, run_id=run_id).status
            if status not in store.UNFINISHED:
                raise ServiceError(f"run {run_id} is {status}: nothing to stop")
            leases.request_stop(session=session, run_id=run_id)

    def requeue(self, run_id: int) -> None:
        """Queue a stopped, failed or killed run again, for whatever worker comes first to draw what it lacks.

        Raises:
            NotFound: no such run. ServiceError: the run is complete.
        """
        suite, run, _ = self._load(run_id)
        if run.status == "complete":
            raise ServiceError(f"run {run_id} is complete: nothing to resume (replay it to draw its seeds again)")
        # Where runs are not shared (SQLite) the one resuming is the one worker: it takes over what a killed
        # process held.
        take_over = not self.shares_runs()
        with Session(self.engine) as session:
            leases.requeue(
                session=session,
                run_id=run_id,
                per_cell=samples_per_cell(suite),
                whole=draws_whole(suite),
                take_over=take_over,
            )

    def _load(self, run_id: int) -> tuple[Suite, store.Run, list[store.RunCell]]:
        with Session(self.engine) as session:
            run = store.get_run(session=session, run_id=run_id)
            experiment = store.get_experiment(session=session, experiment_id=run.experiment_id)
            cells = store.list_cells(session=session, run_id=run_id)
        return Suite.model_validate(experiment.suite), run, cells

    def resume(self, run_id: int, cancel: threading.Event | None = None) -> Iterator[Progress]:
        """Finish a stopped, failed or killed run: only the samples it lacks are drawn, none twice.

        Raises:
            NotFound: no such run. ServiceError: the run is already complete.
        """
        self.requeue(run_id)
        yield from self.execute(run_id, cancel)

    def replay(self, run_id: int, cancel: threading.Event | None = None) -> Iterator[Progress | ReplayReport]:
        """Run the same suite snapshot on the same seeds as a new run, then compare it sample by sample:
        progress while it runs, and last a ReplayReport of the samples whose text or scores differ.

        Raises:
            NotFound: no such run. ModelUnavailable, MaskError, ServiceError: a lane can no longer run.
        """
        replay_id = self.start_replay(run_id)
        yield from self.execute(replay_id, cancel)
        yield self.compare_replay(replay_id)

    def start_replay(self, run_id: int) -> int:
        """Check and save a replay of run `run_id` (same suite snapshot, seeds and judges); `execute` draws it.

        Raises:
            NotFound: no such run. ModelUnavailable, MaskError, ServiceError: a lane can no longer run.
        """
        suite, original, _ = self._load(run_id)
        checked = check_lanes(suite, self.registry, self.masks_dir)
        check_activations(suite, self.registry, Vectors(self.engine, self.registry), checked)
        judges = bool(original.settings.get("judges"))
        if judges:
            check_judges(suite, self.registry)
        shas = {c.lane.model: c.sha256 for c in checked}
        return self._save_run(
            suite, shas, checked, replay_of=run_id, judges=judges, groups=Groups.of(original.settings)
        )

    def compare_replay(self, replay_id: int) -> ReplayReport:
        """A replay run against the run it replays, sample by sample.

        Raises:
            NotFound: no such run. ServiceError: the run is not a replay.
        """
        with Session(self.engine) as session:
            replay = store.get_run(session=session, run_id=replay_id)
            if replay.replay_of is None:
                raise ServiceError(f"run {replay_id} is not a replay")
            return compare_runs(session, store.get_run(session=session, run_id=replay.replay_of), replay)

    def replay_differences(self, report: ReplayReport) -> list[str]:
        """Each difference a replay found, in the one numbering every front end shows: the cell from 1 in the
        run's order, with its lane and prompt, and the sample's index and seed as the run's sample list has them.

        Raises:
            NotFound: the replay run is gone.
        """
        with Session(self.engine) as session:
            cells = {c.position: c for c in store.list_cells(session=session, run_id=report.replay_id)}
        return [describe_difference(d, cells.get(d["cell"])) for d in report.differences]

    # -- reading -------------------------------------------------------------------------------------

    def runs(self, suite: str | None = None) -> list[RunRow]:
        """The stored runs, newest first: id, suite, status, progress, times and each worker's share."""
        with Session(self.engine) as session:
            rows = store.list_runs(session=session, suite=suite)
            ids = [run.id for run, _ in rows if run.id is not None]
            done = leases.cells_done(session=session, run_ids=ids)
            shares = leases.worker_shares(session=session, run_ids=ids)
        return [_run_row(run, experiment, done, shares) for run, experiment in rows]

    def run(self, run_id: int) -> RunRow:
        """One stored run as `runs` lists it.

        Raises:
            NotFound: no such run.
        """
        with Session(self.engine) as session:
            run = store.get_run(session=session, run_id=run_id)
            experiment = store.get_experiment(session=session, experiment_id=run.experiment_id)
            done = leases.cells_done(session=session, run_ids=[run_id])
            shares = leases.worker_shares(session=session, run_ids=[run_id])
        return _run_row(run, experiment, done, shares)

    def report(self, run_id: int) -> RunReport:
        """The run's aggregates, verdicts and links to every sample.

        Raises:
            NotFound: there is no such run.
        """
        with Session(self.engine) as session:
            run = store.get_run(session=session, run_id=run_id)
            experiment = store.get_experiment(session=session, experiment_id=run.experiment_id)
            cells = store.list_cells(session=session, run_id=run_id)
            samples = store.list_samples(session=session, run_id=run_id)
            texts = _texts(session, cells)
            steerings = _steerings(session, cells)
        return build_report(Suite.model_validate(experiment.suite), run, cells, samples, texts, steerings)


def draws_whole(suite: Suite) -> bool:
    """Whether a run goes whole to one worker: it fits a direction before drawing the lanes steered with it, or
    projects every reply once all are drawn (its stages follow one another)."""
    return fitting_scorer(suite) is not None or bool(projection_scorers(suite))


def _run_row(
    run: store.Run, experiment: store.Experiment, done: dict[int, int], shares: dict[int, dict[str, int]]
) -> RunRow:
    assert run.id is not None
    return RunRow(
        id=run.id,
        suite=experiment.name,
        status=run.status,
        samples_done=run.samples_done,
        samples_total=run.samples_total,
        cells=run.cells_total,
        replay_of=run.replay_of,
        started_at=run.started_at.isoformat(),
        finished_at=run.finished_at.isoformat() if run.finished_at else None,
        error=run.error,
        cells_done=done.get(run.id, 0),
        stopping=run.stop_requested and run.status in store.UNFINISHED,
        workers=shares.get(run.id, {}),
    )


def describe_difference(difference: dict[str, Any], cell: store.RunCell | None) -> str:
    """One replay difference, e.g. `cell 3 (chat · prompt 1), sample 0 (seed 1000): text, scores`."""
    where = f"cell {difference['cell'] + 1}"
    if cell is not None:
        where += f" ({cell.lane} · prompt {cell.prompt_index + 1})"
    if "sample" in difference:
        seed = f" (seed {difference['seed']})" if difference.get("seed") is not None else ""
        where += f", sample {difference['sample']}{seed}"
    else:
        where += f", scorer {difference.get('scorer')}"
    what = difference["what"]
    return f"{where}: {what if isinstance(what, str) else ', '.join(what)}"


def _steerings(session: Session, cells: list[store.RunCell]) -> dict[str, Steering]:
    """Each steered lane's steering (its direction, α and layers), by lane spec, once pointed at its vector."""
    out: dict[str, Steering] = {}
    for cell in cells:
        if cell.conversation_id is not None and cell.lane not in out:
            lanes = repo.list_lanes(session=session, conversation_id=cell.conversation_id)
            if lanes and lanes[0].steered is not None:
                out[cell.lane] = lanes[0].steered
    return out


def _texts(session: Session, cells: list[store.RunCell]) -> dict[int, str]:
    texts: dict[int, str] = {}
    for cell in cells:
        if cell.conversation_id is not None:
            for message in repo.list_messages(session=session, conversation_id=cell.conversation_id):
                if message.id is not None and message.role == "model":
                    texts[message.id] = message.content
    return texts
