# Copies transcripts from one database to another (SQLite to PostgreSQL, say) through the json export and import,
# which already round-trip a conversation losslessly: every copy is an ordinary import with new ids.

from collections.abc import Callable

from pydantic import BaseModel
from sqlmodel import Session, col, select

from storage.imports import import_conversation
from storage.repo import export_conversation
from storage.tables import Conversation


class CopyCounts(BaseModel):
    """What a copy wrote into the target database."""

    conversations: int = 0
    lanes: int = 0
    messages: int = 0
    annotations: int = 0


def copy_conversations(
    *, source: Session, target: Session, progress: Callable[[CopyCounts], None] | None = None
) -> CopyCounts:
    """Copy every conversation of `source`, oldest first, with its lanes (mask snapshots and settings), messages
    (tokens, metrics, prompts, branches) and annotations into `target`, each in its own transaction.

    Raises ImportError_ for a conversation the export format cannot hold, and the database's errors as they come:
    what was copied before stays (each conversation is whole or absent).
    """
    counts = CopyCounts()
    ids = source.execute(select(col(Conversation.id)).order_by(col(Conversation.id))).scalars().all()
    for conversation_id in ids:
        data = export_conversation(session=source, conversation_id=conversation_id)
        source.expunge_all()  # one conversation's rows in memory at a time
        import_conversation(session=target, data=data)
        target.expunge_all()
        counts.conversations += 1
        counts.lanes += len(data["lanes"])
        counts.messages += len(data["messages"])
        counts.annotations += len(data["annotations"])
        if progress is not None:
            progress(counts)
    return counts
