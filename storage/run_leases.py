# Runs owned by the database (issue 22): a started run is queued here, and any number of workers draw it by
# leasing its cells (lane x prompt) or, for a run that must go whole to one worker, the run itself. A lease
# expires unless its holder renews it, so a killed worker's cells are anyone's again; the drawing code deletes
# the replies it left unlinked before drawing, so no sample is drawn twice. On PostgreSQL a claim skips rows
# another claim has locked (FOR UPDATE SKIP LOCKED); on SQLite, which has one writer at a time, a claim is one
# UPDATE. Expiry is judged by the workers' clocks, as for turn leases: keep a team's machines on NTP.

from collections import defaultdict
from collections.abc import Collection, Sequence
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, func, or_, update
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import SelectOfScalar

from storage.rows import get_row
from storage.tables import utcnow
from storage.tables.experiments import UNFINISHED, Run, RunCell, RunSample

__all__ = [
    "claim_cells",
    "cells_done",
    "claim_run",
    "finish_cell",
    "held_stops",
    "live_leases",
    "release",
    "release_all",
    "renew",
    "request_stop",
    "requeue",
    "samples_of",
    "settle_run",
    "unfinished_runs",
    "worker_shares",
]


def _free(model: type[Run] | type[RunCell], now: datetime) -> ColumnElement[bool]:
    return or_(col(model.lease_owner).is_(None), col(model.lease_expires_at) <= now)


def claim_cells(
    *, session: Session, owner: str, limit: int, seconds: float, run_id: int | None = None
) -> list[RunCell]:
    """Lease up to `limit` cells nobody holds (or whose holder's lease expired), of queued or running runs not
    being stopped, the oldest run's first; their runs become `running`. Returns the cells leased."""
    now, until = utcnow(), utcnow() + timedelta(seconds=seconds)
    free = (
        select(RunCell.id)
        .join(Run, col(Run.id) == col(RunCell.run_id))
        .where(
            col(Run.status).in_(UNFINISHED),
            col(Run.stop_requested).is_(False),
            col(Run.whole).is_(False),
            col(RunCell.finished_at).is_(None),
            _free(RunCell, now),
        )
        .order_by(col(RunCell.run_id), col(RunCell.position))
        .limit(limit)
    )
    if run_id is not None:
        free = free.where(col(RunCell.run_id) == run_id)
    _lease(session, RunCell, free, owner, now, until)
    cells = list(
        session.exec(
            select(RunCell)
            .where(col(RunCell.lease_owner) == owner, col(RunCell.lease_expires_at) == until)
            .order_by(col(RunCell.run_id), col(RunCell.position))
        )
    )
    _running(session, {c.run_id for c in cells})
    session.expunge_all()  # the cells as read, not expired by the commit
    session.commit()
    return cells


def claim_run(*, session: Session, owner: str, seconds: float, run_id: int | None = None) -> Run | None:
    """Lease one run that goes whole to one worker, as `claim_cells` leases cells; it becomes `running`."""
    now, until = utcnow(), utcnow() + timedelta(seconds=seconds)
    free = (
        select(Run.id)
        .where(
            col(Run.status).in_(UNFINISHED),
            col(Run.stop_requested).is_(False),
            col(Run.whole).is_(True),
            _free(Run, now),
        )
        .order_by(col(Run.id))
        .limit(1)
    )
    if run_id is not None:
        free = free.where(col(Run.id) == run_id)
    _lease(session, Run, free, owner, now, until)
    run = session.exec(select(Run).where(col(Run.lease_owner) == owner, col(Run.lease_expires_at) == until)).first()
    if run is not None:
        _running(session, {run.id} if run.id is not None else set())
    session.expunge_all()
    session.commit()
    return run


def _lease(
    session: Session,
    model: type[Run] | type[RunCell],
    free: SelectOfScalar[int] | SelectOfScalar[None],
    owner: str,
    now: datetime,
    until: datetime,
) -> None:
    """Lease the rows whose ids `free` selects to `owner` until `until`, unless another claim got them first."""
    if session.get_bind().dialect.name == "postgresql":
        chosen = col(model.id).in_(list(session.exec(free.with_for_update(skip_locked=True, of=model))))
    else:  # one UPDATE: SQLite's write lock is taken at once, and no other claim runs meanwhile
        chosen = col(model.id).in_(free.scalar_subquery())
    session.exec(  # type: ignore[call-overload]
        update(model).where(chosen, _free(model, now)).values(lease_owner=owner, lease_expires_at=until)
    )


def _running(session: Session, run_ids: Collection[int]) -> None:
    if run_ids:
        session.exec(  # type: ignore[call-overload]
            update(Run)
            .where(col(Run.id).in_(run_ids), col(Run.status) == "queued")
            .values(status="running", updated_at=utcnow(), finished_at=None)
        )


def renew(*, session: Session, owner: str, seconds: float) -> int:
    """Push the expiry of every lease `owner` holds `seconds` from now; returns how many it still holds."""
    until = utcnow() + timedelta(seconds=seconds)
    held = 0
    for model in (RunCell, Run):
        result = session.exec(  # type: ignore[call-overload]
            update(model).where(col(model.lease_owner) == owner).values(lease_expires_at=until)
        )
        held += result.rowcount
    session.commit()
    return held


def held_stops(*, session: Session, run_ids: Collection[int]) -> set[int]:
    """Which of `run_ids` have Stop pressed, or ended meanwhile (deleted, or finished by someone)."""
    if not run_ids:
        return set()
    going = session.exec(
        select(Run.id).where(
            col(Run.id).in_(run_ids), col(Run.stop_requested).is_(False), col(Run.status).in_(UNFINISHED)
        )
    )
    return set(run_ids) - set(going)


def finish_cell(*, session: Session, cell_id: int, owner: str | None, error: str | None) -> bool:
    """Mark a cell drawn (with the first sample's error when one failed) and give its lease back, if `owner`
    still holds it; False when it does not (it expired and was taken). A run drawn whole has no cell leases:
    its owner is None."""
    mine = col(RunCell.lease_owner).is_(None) if owner is None else col(RunCell.lease_owner) == owner
    result = session.exec(  # type: ignore[call-overload]
        update(RunCell)
        .where(col(RunCell.id) == cell_id, mine)
        .values(finished_at=utcnow(), error=error, lease_owner=None, lease_expires_at=None)
    )
    session.commit()
    return bool(result.rowcount)


def release(*, session: Session, owner: str, cell_ids: Sequence[int] = (), run_id: int | None = None) -> None:
    """Give leases back unfinished (stopped, or the worker is shutting down): the cells, and the run when given."""
    if cell_ids:
        session.exec(  # type: ignore[call-overload]
            update(RunCell)
            .where(col(RunCell.id).in_(cell_ids), col(RunCell.lease_owner) == owner)
            .values(lease_owner=None, lease_expires_at=None)
        )
    if run_id is not None:
        session.exec(  # type: ignore[call-overload]
            update(Run)
            .where(col(Run.id) == run_id, col(Run.lease_owner) == owner)
            .values(lease_owner=None, lease_expires_at=None)
        )
    session.commit()


def release_all(*, session: Session, owner: str) -> None:
    """Give back every lease `owner` holds (a worker shutting down)."""
    for model in (RunCell, Run):
        session.exec(  # type: ignore[call-overload]
            update(model).where(col(model.lease_owner) == owner).values(lease_owner=None, lease_expires_at=None)
        )
    session.commit()


def live_leases(*, session: Session, run_id: int) -> int:
    """How many leases on the run (its own, and its cells') have not expired."""
    now = utcnow()
    cells = session.exec(
        select(func.count()).where(col(RunCell.run_id) == run_id, col(RunCell.lease_expires_at) > now)
    ).one()
    run = get_row(session, Run, run_id)
    return int(cells) + int(run.lease_expires_at is not None and run.lease_expires_at > now)


def settle_run(*, session: Session, run_id: int) -> str | None:
    """End a run of leased cells that has nothing left to draw: complete, failed (with its first cell's error)
    when every cell is drawn, or stopped when Stop was pressed and no worker holds a cell any more. Returns
    the status it ended with, or None while it goes on (or had already ended). Two workers settling at once
    write the same thing."""
    run = get_row(session, Run, run_id)
    if run.status not in UNFINISHED:
        return None
    if run.whole:  # its worker ends it; only one stopped while its worker was gone is left to settle
        if not run.stop_requested or live_leases(session=session, run_id=run_id):
            return None
        cells = []
    else:
        statement = select(RunCell).where(col(RunCell.run_id) == run_id).order_by(col(RunCell.position))
        cells = list(session.exec(statement))
    if cells and all(c.finished_at is not None for c in cells):
        error = next((c.error for c in cells if c.error), None)
        status = "failed" if error else "complete"
    elif run.stop_requested and not live_leases(session=session, run_id=run_id):
        status, error = "stopped", None
    else:
        return None
    now = utcnow()
    session.exec(  # type: ignore[call-overload]
        update(Run)
        .where(col(Run.id) == run_id, col(Run.status).in_(UNFINISHED))
        .values(status=status, error=error, finished_at=now, updated_at=now)
    )
    session.commit()
    return status


def unfinished_runs(*, session: Session) -> list[int]:
    """The queued and running runs, oldest first."""
    statement = select(Run.id).where(col(Run.status).in_(UNFINISHED)).order_by(col(Run.id))
    return [run_id for run_id in session.exec(statement) if run_id is not None]


def request_stop(*, session: Session, run_id: int) -> Run:
    """Press Stop: workers drawing the run see the flag and let go of it. A run nobody holds is stopped now.

    Raises:
        NotFound: there is no such run.
    """
    run = get_row(session, Run, run_id)
    if run.status in UNFINISHED:
        run.stop_requested, run.updated_at = True, utcnow()
        if not live_leases(session=session, run_id=run_id):
            run.status, run.finished_at = "stopped", utcnow()
        session.add(run)
        session.commit()
        session.refresh(run)
    return run


def requeue(*, session: Session, run_id: int, per_cell: int, whole: bool, take_over: bool) -> Run:
    """Queue a stopped, failed or killed run again: Stop is cleared, and cells that failed or lack samples (of
    `per_cell`) are drawn again (what they lack only). With `take_over`, leases still on the run are dropped:
    for SQLite, where the one worker resuming it is the only one there is.

    Raises:
        NotFound: there is no such run.
    """
    run = get_row(session, Run, run_id)
    linked = select(func.count()).where(col(RunSample.cell_id) == col(RunCell.id)).correlate(RunCell).scalar_subquery()
    lacking = or_(col(RunCell.error).is_not(None), linked < per_cell)
    session.exec(  # type: ignore[call-overload]
        update(RunCell).where(col(RunCell.run_id) == run_id, lacking).values(finished_at=None, error=None)
    )
    if take_over:
        session.exec(  # type: ignore[call-overload]
            update(RunCell).where(col(RunCell.run_id) == run_id).values(lease_owner=None, lease_expires_at=None)
        )
        run.lease_owner, run.lease_expires_at = None, None
    if run.status not in UNFINISHED:
        run.status = "queued"
    run.stop_requested, run.whole, run.error, run.finished_at, run.updated_at = False, whole, None, None, utcnow()
    session.add(run)
    session.commit()
    session.refresh(run)
    return run


def samples_of(*, session: Session, cell_id: int) -> int:
    """How many samples of the cell are linked."""
    return int(session.exec(select(func.count()).where(col(RunSample.cell_id) == cell_id)).one())


def cells_done(*, session: Session, run_ids: Collection[int]) -> dict[int, int]:
    """How many cells of each run are drawn, by run id."""
    statement = (
        select(RunCell.run_id, func.count())
        .where(col(RunCell.run_id).in_(run_ids), col(RunCell.finished_at).is_not(None))
        .group_by(col(RunCell.run_id))
    )
    return {run_id: int(count) for run_id, count in session.exec(statement)}


def worker_shares(*, session: Session, run_ids: Collection[int] | None = None) -> dict[int, dict[str, int]]:
    """Each run's samples per worker that drew them ("" for samples older than workers), by run id."""
    statement = select(RunSample.run_id, RunSample.worker, func.count()).group_by(
        col(RunSample.run_id), col(RunSample.worker)
    )
    if run_ids is not None:
        statement = statement.where(col(RunSample.run_id).in_(run_ids))
    shares: dict[int, dict[str, int]] = defaultdict(dict)
    for run_id, worker, count in session.exec(statement):
        shares[run_id][worker or ""] = int(count)
    return dict(shares)
