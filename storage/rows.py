# Fetching and committing rows the way every storage write does, shared by repo.py, annotations.py,
# experiments.py, judgements.py and turn_leases.py, so a missing id, a failed commit and a row from another
# conversation are reported the same everywhere.

from typing import TypeVar

from sqlmodel import Session, SQLModel

from storage.errors import InvalidValue, NotFound

_Row = TypeVar("_Row", bound=SQLModel)


def get_row(session: Session, model: type[_Row], row_id: int) -> _Row:
    row = session.get(model, row_id)
    if row is None:
        raise NotFound(f"{model.__name__.lower()} {row_id} does not exist")
    return row


def commit(session: Session, *rows: SQLModel) -> None:
    # Refresh so the returned rows stay readable after the caller closes the session.
    try:
        session.commit()
    except Exception:
        session.rollback()
        raise
    for row in rows:
        session.refresh(row)


def elsewhere(what: str, row_id: int, actual: int | None, expected: int) -> InvalidValue:
    return InvalidValue(f"{what} {row_id} belongs to conversation {actual}, not {expected}")
