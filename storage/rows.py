# Fetching and committing rows the way every storage write does, shared by repo.py, replies.py, annotations.py,
# experiments.py, judgements.py and turn_leases.py, so a missing id, a failed commit and a row from another
# conversation are reported the same everywhere.

from typing import Any, TypeVar

from sqlmodel import Session, SQLModel, select

from storage.errors import InvalidValue, NotFound

_Row = TypeVar("_Row", bound=SQLModel)


def get_row(session: Session, model: type[_Row], row_id: int) -> _Row:
    row = session.get(model, row_id)
    if row is None:
        raise NotFound(f"{model.__name__.lower()} {row_id} does not exist")
    return row


def get_columns(session: Session, model: type[SQLModel], row_id: int, *columns: Any) -> tuple[Any, ...]:
    """Some columns of one row, to check it: loading a whole row decodes its JSON (a lane's mask, a reply's
    tokens), and a run checks rows for every sample it starts."""
    found = session.exec(select(*columns).where(model.id == row_id)).first()  # type: ignore[attr-defined]
    if found is None:
        raise NotFound(f"{model.__name__.lower()} {row_id} does not exist")
    return tuple(found) if len(columns) > 1 else (found,)  # one column comes back as its value


def commit(session: Session, *rows: SQLModel) -> None:
    # Refresh so the returned rows stay readable after the caller closes the session.
    try:
        session.commit()
    except Exception:
        session.rollback()
        raise
    for row in rows:
        session.refresh(row)


def commit_new(session: Session, row: SQLModel) -> None:
    """Commit a new row and keep it readable as written, without reading it back: every column of it was set
    here but its id, which the flush gives. A run starts a reply per sample, thousands from many threads."""
    try:
        session.flush()
        session.expunge(row)
        session.commit()
    except Exception:
        session.rollback()
        raise


def elsewhere(what: str, row_id: int, actual: int | None, expected: int) -> InvalidValue:
    return InvalidValue(f"{what} {row_id} belongs to conversation {actual}, not {expected}")
