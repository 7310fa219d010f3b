# What a turn does with the replies it started when it can no longer save them (the disk filled up, the file
# went): they are marked failed with the reason, so none stays looking unfinished, empty and `incomplete`, for
# good. repo.py re-exports it.

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, update
from sqlmodel import Session, col

from storage.tables import Message


def abandon_replies(*, session: Session, message_ids: Sequence[int], error: str, keep_tokens: bool = True) -> int:
    """Mark those of `message_ids` still `incomplete` as `error` with `error`, keeping the text they had saved.

    One UPDATE of short columns and no content, the smallest write there is; without `keep_tokens` it also drops
    their saved tokens, which frees pages for it on a disk too full for even that. Returns how many were marked.
    Raises sqlalchemy.exc.OperationalError when it cannot be written.
    """
    if not message_ids:
        return 0
    values: dict[str, object] = {"status": "error", "error": error}
    if not keep_tokens:
        values["tokens"] = None
    return update_incomplete(session, col(Message.id).in_(list(message_ids)), values)


def update_incomplete(session: Session, which: ColumnElement[bool], values: dict[str, Any]) -> int:
    """Set `values` on the messages `which` selects that are still `incomplete`, in one committed UPDATE (rolled
    back if it fails): a reply already finished is never written over. Returns how many rows changed."""
    statement = update(Message).where(which, col(Message.status) == "incomplete").values(**values)
    try:
        result = session.exec(statement)
        session.commit()
    except Exception:
        session.rollback()
        raise
    return result.rowcount
