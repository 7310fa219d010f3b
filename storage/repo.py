# Conversations in the database: conversations, lanes, user messages and replies written as they stream, read back
# and exported. The UI and the turn runner never write SQL, and each write is one committed transaction: a crash
# loses nothing already shown. The other storage modules the service calls are listed in storage/__init__.py.

from collections.abc import Mapping
from datetime import datetime
from typing import Any, get_args

from pydantic import BaseModel, ConfigDict
from sqlalchemy import func
from sqlmodel import Session, SQLModel, col, select

from simulator.values import Contrast, FinishReason, SamplingSettings, Steering

# Re-exported (the `name as name` imports): the conversation and transcript services call a reply's writes,
# annotations, search, imports and the storage errors as repo.*.
from storage.abandon import abandon_replies as abandon_replies
from storage.annotations import add_annotation as add_annotation
from storage.annotations import delete_annotation as delete_annotation
from storage.annotations import list_annotations as list_annotations
from storage.annotations import update_annotation as update_annotation
from storage.bulk import paused_gc
from storage.errors import ImportError_ as ImportError_
from storage.errors import InvalidValue as InvalidValue
from storage.errors import NotFound as NotFound
from storage.errors import StorageError as StorageError
from storage.imports import EXPORT_FORMAT, EXPORT_VERSION
from storage.imports import import_conversation as import_conversation
from storage.imports import load_export_bytes as load_export_bytes
from storage.imports import load_export_file as load_export_file
from storage.replies import check_user_parent
from storage.replies import finish_reply as finish_reply
from storage.replies import start_reply as start_reply
from storage.replies import update_reply as update_reply
from storage.rows import commit, get_row
from storage.search.query import SearchFilters as SearchFilters
from storage.search.query import SearchHit as SearchHit
from storage.search.query import count_conversations as count_conversations
from storage.search.query import search as search
from storage.search.query import search_filters as search_filters
from storage.tables import (
    LANE_KINDS,
    Conversation,
    Lane,
    LaneKind,
    Message,
    sampling_columns,
    utcnow,
)
from storage.tables import Annotation as Annotation
from storage.tables.experiments import RunCell


class ConversationSummary(BaseModel):
    """One row of the transcripts list, gathered without loading every message."""

    model_config = ConfigDict(frozen=True)

    id: int
    title: str
    updated_at: datetime
    message_count: int
    lane_labels: list[str]
    first_user_message: str | None


def create_conversation(*, session: Session, title: str = "") -> Conversation:
    """Start an empty conversation."""
    conversation = Conversation(title=title)
    session.add(conversation)
    commit(session, conversation)
    return conversation


def add_lane(
    *,
    session: Session,
    conversation_id: int,
    position: int,
    label: str,
    kind: LaneKind,
    model: str,
    mask_name: str | None,
    mask_snapshot: Mapping[str, Any] | None,
    system_prompt: str | None,
    settings: SamplingSettings,
    contrast: Contrast | None = None,
    steering: Steering | None = None,
) -> Lane:
    """Record a lane with everything needed to reproduce it; mask_snapshot must be JSON-ready; `contrast`
    makes it a contrast lane, `steering` a steered one.

    Raises NotFound for an unknown conversation, InvalidValue for an unknown kind.
    """
    if kind not in LANE_KINDS:
        raise InvalidValue(f"lane kind {kind!r} is not one of {', '.join(LANE_KINDS)}")
    get_row(session, Conversation, conversation_id)
    lane = Lane(
        conversation_id=conversation_id,
        position=position,
        label=label,
        kind=kind,
        model=model,
        mask_name=mask_name,
        mask_snapshot=None if mask_snapshot is None else dict(mask_snapshot),
        system_prompt=system_prompt,
        contrast=None if contrast is None else contrast.model_dump(mode="json"),
        steering=None if steering is None else steering.model_dump(mode="json"),
        **sampling_columns(settings),
    )
    session.add(lane)
    commit(session, lane)
    return lane


def add_user_message(*, session: Session, conversation_id: int, parent_id: int | None, content: str) -> Message:
    """Save a user message shared by every lane; parent_id is the previous user message on its path.

    Raises NotFound for an unknown conversation or parent, InvalidValue for a parent that is not a
    user message of this conversation.
    """
    conversation = get_row(session, Conversation, conversation_id)
    check_user_parent(session, conversation_id, parent_id)
    now = utcnow()
    message = Message(
        conversation_id=conversation_id,
        parent_id=parent_id,
        role="user",
        content=content,
        status="complete",
        created_at=now,
    )
    conversation.updated_at = now
    session.add(message)
    commit(session, message)
    return message


def get_conversation(*, session: Session, conversation_id: int) -> Conversation:
    """Raises NotFound when there is no such conversation."""
    return get_row(session, Conversation, conversation_id)


def set_title(*, session: Session, conversation_id: int, title: str) -> Conversation:
    """Rename a conversation; updated_at tracks messages, so renaming does not reorder the list.

    Raises NotFound for an unknown conversation.
    """
    conversation = get_row(session, Conversation, conversation_id)
    conversation.title = title
    commit(session, conversation)
    return conversation


def set_notes(*, session: Session, conversation_id: int, notes: str) -> Conversation:
    """Replace a conversation's notes. Raises NotFound for an unknown conversation."""
    conversation = get_row(session, Conversation, conversation_id)
    conversation.notes = notes
    commit(session, conversation)
    return conversation


def list_lanes(*, session: Session, conversation_id: int) -> list[Lane]:
    statement = (
        select(Lane).where(col(Lane.conversation_id) == conversation_id).order_by(col(Lane.position), col(Lane.id))
    )
    return list(session.exec(statement))


def list_messages(*, session: Session, conversation_id: int) -> list[Message]:
    """Every message of the conversation, oldest first; rebuild the tree from parent_id."""
    statement = select(Message).where(col(Message.conversation_id) == conversation_id).order_by(col(Message.id))
    with paused_gc():  # each reply's token JSON builds thousands of lists; see storage.bulk
        return list(session.exec(statement))


def list_conversations(
    *, session: Session, limit: int = 50, offset: int = 0, experiments: bool = True
) -> list[ConversationSummary]:
    """Conversations with the most recent activity first; without `experiments`, not those an experiment run
    made for its cells."""
    statement = select(Conversation)
    if not experiments:
        # NOT IN over a list holding NULL is never true: cells whose conversation was deleted are left out.
        cells = select(RunCell.conversation_id).where(col(RunCell.conversation_id).is_not(None))
        statement = statement.where(col(Conversation.id).not_in(cells))
    conversations = list(
        session.exec(
            statement.order_by(col(Conversation.updated_at).desc(), col(Conversation.id).desc())
            .limit(limit)
            .offset(offset)
        )
    )
    ids = [c.id for c in conversations]
    counts: dict[int, int] = dict(
        session.exec(
            select(Message.conversation_id, func.count())
            .where(col(Message.conversation_id).in_(ids))
            .group_by(col(Message.conversation_id))
        ).all()
    )
    labels: dict[int, list[str]] = {}
    for conversation_id, label in session.exec(
        select(Lane.conversation_id, Lane.label)
        .where(col(Lane.conversation_id).in_(ids))
        .order_by(col(Lane.position), col(Lane.id))
    ):
        labels.setdefault(conversation_id, []).append(label)
    first_ids = (
        select(func.min(Message.id))
        .where(col(Message.conversation_id).in_(ids), col(Message.role) == "user")
        .group_by(col(Message.conversation_id))
    )
    firsts: dict[int, str] = dict(
        session.exec(select(Message.conversation_id, Message.content).where(col(Message.id).in_(first_ids))).all()
    )
    return [
        ConversationSummary(
            id=c.id,
            title=c.title,
            updated_at=c.updated_at,
            message_count=counts.get(c.id, 0),
            lane_labels=labels.get(c.id, []),
            first_user_message=firsts.get(c.id),
        )
        for c in conversations
        if c.id is not None
    ]


def _row_dict(row: SQLModel) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in type(row).model_fields:
        value = getattr(row, name)
        out[name] = value.isoformat() if isinstance(value, datetime) else value
    return out


_FINISH_REASONS = frozenset(get_args(FinishReason))


def _message_dict(row: Message) -> dict[str, Any]:
    out = _row_dict(row)
    # Any other word came in through an import from before imports checked it: left out, so that the export
    # imports again and the formats read from it (DPO pairs) do not fail on it.
    if out["finish_reason"] not in _FINISH_REASONS:
        out["finish_reason"] = None
    return out


def export_conversation(*, session: Session, conversation_id: int) -> dict[str, Any]:
    """Everything stored about one conversation as a JSON-ready dict (datetimes as ISO strings).

    Raises NotFound for an unknown conversation.
    """
    conversation = get_row(session, Conversation, conversation_id)
    lanes = list_lanes(session=session, conversation_id=conversation_id)
    messages = list_messages(session=session, conversation_id=conversation_id)
    annotations = list_annotations(session=session, conversation_id=conversation_id)
    return {
        "format": EXPORT_FORMAT,
        "version": EXPORT_VERSION,
        "conversation": _row_dict(conversation),
        "lanes": [_row_dict(r) for r in lanes],
        "messages": [_message_dict(r) for r in messages],
        "annotations": [_row_dict(r) for r in annotations],
    }
