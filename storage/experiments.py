# The experiment rows' only door (like repo.py for conversations): keyword-only functions taking the session,
# each write one committed transaction. A sample and its run's progress are written together, so a run killed
# at any moment has exactly the samples it counts.

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, delete, func, update
from sqlalchemy import select as rows_of
from sqlmodel import Session, col, select

from storage.errors import InvalidValue, NotFound
from storage.rows import commit, get_row
from storage.tables import Lane, Message, utcnow
from storage.tables.experiments import RUN_STATUSES, UNFINISHED, Experiment, Run, RunCell, RunSample

__all__ = [
    "UNFINISHED",
    "Experiment",
    "Run",
    "RunCell",
    "RunCounts",
    "RunSample",
    "add_cell",
    "add_sample",
    "create_run",
    "delete_unlinked_replies",
    "experiment_for",
    "get_experiment",
    "get_run",
    "list_cells",
    "list_runs",
    "list_samples",
    "sample_keys",
    "run_counts",
    "set_cell_likelihoods",
    "set_run_result",
    "set_run_status",
    "set_sample_scores",
    "steer_lane",
]


def experiment_for(*, session: Session, suite: Mapping[str, Any]) -> Experiment:
    """The experiment row of this exact suite snapshot: an existing one, or a new one."""
    name = str(suite.get("name", ""))
    for row in session.exec(select(Experiment).where(col(Experiment.name) == name)):
        if row.suite == dict(suite):
            return row
    experiment = Experiment(
        name=name, description=str(suite.get("description", "")), claim=str(suite.get("claim", "")), suite=dict(suite)
    )
    session.add(experiment)
    commit(session, experiment)
    return experiment


def get_experiment(*, session: Session, experiment_id: int) -> Experiment:
    return get_row(session, Experiment, experiment_id)


def create_run(
    *,
    session: Session,
    experiment_id: int,
    settings: Mapping[str, Any],
    model_sha256: Mapping[str, Any],
    cells_total: int,
    samples_total: int,
    replay_of: int | None = None,
    whole: bool = False,
) -> Run:
    """A queued run: workers draw it (storage.run_leases); `whole`, by one worker, in its stages' order."""
    get_row(session, Experiment, experiment_id)
    run = Run(
        whole=whole,
        experiment_id=experiment_id,
        settings=dict(settings),
        model_sha256=dict(model_sha256),
        cells_total=cells_total,
        samples_total=samples_total,
        replay_of=replay_of,
    )
    session.add(run)
    commit(session, run)
    return run


def get_run(*, session: Session, run_id: int) -> Run:
    """Raises: NotFound: there is no such run."""
    return get_row(session, Run, run_id)


@dataclass(frozen=True)
class RunCounts:
    """Where a run stands: what its progress bar shows."""

    samples_done: int
    samples_total: int
    cells_done: int
    cells_total: int
    status: str


# Built once: a run asks for its counts after each of its samples.
_CELLS_DONE = (
    select(func.count())
    .where(col(RunCell.run_id) == bindparam("run_id"), col(RunCell.finished_at).is_not(None))
    .scalar_subquery()
)
_RUN_COUNTS = rows_of(  # SQLAlchemy's own select: SQLModel's takes at most four columns
    col(Run.samples_done), col(Run.samples_total), _CELLS_DONE, col(Run.cells_total), col(Run.status)
).where(col(Run.id) == bindparam("run_id"))


def run_counts(*, session: Session, run_id: int) -> RunCounts:
    """The run's counts in one query, no rows loaded.

    Raises: NotFound: there is no such run."""
    row = session.exec(_RUN_COUNTS, params={"run_id": run_id}).first()  # type: ignore[call-overload]
    if row is None:
        raise NotFound(f"run {run_id} does not exist")
    return RunCounts(*row)


def list_runs(*, session: Session, suite: str | None = None) -> list[tuple[Run, Experiment]]:
    """Runs with their experiment, newest first; only those of the suite called `suite` when given."""
    statement = select(Run, Experiment).where(col(Run.experiment_id) == col(Experiment.id))
    if suite is not None:
        statement = statement.where(col(Experiment.name) == suite)
    return [(run, experiment) for run, experiment in session.exec(statement.order_by(col(Run.id).desc()))]


def set_run_status(*, session: Session, run_id: int, status: str, error: str | None = None) -> Run:
    """Raises: InvalidValue: not one of RUN_STATUSES."""
    if status not in RUN_STATUSES:
        raise InvalidValue(f"run status {status!r} is not one of {', '.join(RUN_STATUSES)}")
    run = get_row(session, Run, run_id)
    run.status, run.error, run.updated_at = status, error, utcnow()
    run.finished_at = None if status in UNFINISHED else utcnow()
    session.add(run)
    commit(session, run)
    return run


def set_run_result(*, session: Session, run_id: int, key: str, value: Any) -> Run:
    """Keep what a run computed from its samples as a whole (a fitted direction's figures) under
    `settings["results"][key]`, so its report reads it whatever is stored elsewhere later."""
    run = get_row(session, Run, run_id)
    results = {**run.settings.get("results", {}), key: value}
    run.settings = {**run.settings, "results": results}  # a new dict, so the JSON column is seen to change
    run.updated_at = utcnow()
    session.add(run)
    commit(session, run)
    return run


def add_cell(
    *, session: Session, run_id: int, position: int, lane: str, prompt_index: int, conversation_id: int | None
) -> RunCell:
    cell = RunCell(
        run_id=run_id, position=position, lane=lane, prompt_index=prompt_index, conversation_id=conversation_id
    )
    session.add(cell)
    commit(session, cell)
    return cell


def set_cell_likelihoods(*, session: Session, cell_id: int, likelihoods: Mapping[str, Any]) -> RunCell:
    cell = get_row(session, RunCell, cell_id)
    cell.likelihoods = dict(likelihoods)
    session.add(cell)
    commit(session, cell)
    return cell


def list_cells(*, session: Session, run_id: int) -> list[RunCell]:
    statement = select(RunCell).where(col(RunCell.run_id) == run_id).order_by(col(RunCell.position))
    return list(session.exec(statement))


def add_sample(
    *,
    session: Session,
    cell_id: int,
    sample_index: int,
    seed: int,
    message_id: int | None,
    scores: Mapping[str, Any],
    retries: int = 0,
    batch: Mapping[str, Any] | None = None,
    worker: str | None = None,
) -> None:
    """Link one finished reply to its cell and count it in the run's progress, in one transaction; `worker` is
    who drew it (storage.run_leases).

    Raises:
        NotFound: there is no such cell.
        IntegrityError (from the database): the cell already has this sample (a duplicate is never stored).
    """
    run_id = session.exec(select(RunCell.run_id).where(col(RunCell.id) == cell_id)).first()
    if run_id is None:
        raise NotFound(f"runcell {cell_id} does not exist")
    sample = RunSample(
        run_id=run_id,
        cell_id=cell_id,
        sample_index=sample_index,
        seed=seed,
        message_id=message_id,
        scores=dict(scores),
        retries=retries,
        batch=None if batch is None else dict(batch),
        worker=worker,
    )
    session.add(sample)
    session.exec(  # type: ignore[call-overload]
        update(Run).where(col(Run.id) == run_id).values(samples_done=col(Run.samples_done) + 1, updated_at=utcnow())
    )
    commit(session)  # not read back: a run links thousands of samples, and none is used after


def set_sample_scores(*, session: Session, sample_id: int, scores: Mapping[str, Any]) -> RunSample:
    """Add scores computed after the run's replies were drawn (a projection) to a linked sample's."""
    sample = get_row(session, RunSample, sample_id)
    sample.scores = {**sample.scores, **scores}
    session.add(sample)
    commit(session, sample)
    return sample


def steer_lane(*, session: Session, lane_id: int, steering: Mapping[str, Any]) -> Lane:
    """Point a cell's steered lane at the vector it steers with (simulator.values.Steering as JSON), once: a suite
    steering with the direction it fits learns the vector only after its other lanes are drawn."""
    lane = get_row(session, Lane, lane_id)
    lane.steering = dict(steering)
    session.add(lane)
    commit(session, lane)
    return lane


def list_samples(*, session: Session, run_id: int) -> list[RunSample]:
    statement = (
        select(RunSample)
        .where(col(RunSample.run_id) == run_id)
        .order_by(col(RunSample.cell_id), col(RunSample.sample_index))
    )
    return list(session.exec(statement))


def sample_keys(*, session: Session, cell_ids: Sequence[int]) -> set[tuple[int, int]]:
    """(cell id, sample index) of the cells' linked samples: what a worker's claimed cells already have, read
    without loading the run's every sample and its scores at each claim."""
    statement = select(RunSample.cell_id, RunSample.sample_index).where(col(RunSample.cell_id).in_(cell_ids))
    return {(cell_id, index) for cell_id, index in session.exec(statement)}


def delete_unlinked_replies(*, session: Session, cell: RunCell) -> int:
    """Delete the replies in the cell's conversation that no sample links to: those a killed run had started
    or finished but not yet counted, which resume draws again. Returns how many were deleted."""
    if cell.conversation_id is None:
        return 0
    linked = select(RunSample.message_id).where(col(RunSample.cell_id) == cell.id)
    unlinked = [
        message_id
        for message_id in session.exec(
            select(Message.id).where(
                col(Message.conversation_id) == cell.conversation_id,
                col(Message.role) == "model",
                col(Message.id).not_in(linked.where(col(RunSample.message_id).is_not(None))),
            )
        )
        if message_id is not None
    ]
    if unlinked:
        session.exec(delete(Message).where(col(Message.id).in_(unlinked)))  # type: ignore[call-overload]
        commit(session)
    return len(unlinked)


def delete_replies(*, session: Session, message_ids: Sequence[int]) -> None:
    """Delete replies by id: a resumed group's samples that were drawn again only to keep the group whole."""
    if message_ids:
        session.exec(delete(Message).where(col(Message.id).in_(list(message_ids))))  # type: ignore[call-overload]
        commit(session)


def message_ids(samples: Sequence[RunSample]) -> list[int]:
    return [s.message_id for s in samples if s.message_id is not None]
