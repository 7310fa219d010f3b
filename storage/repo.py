# The only storage functions the rest of the app calls, so the UI and the turn runner never write SQL
# and each write is one committed transaction: a crash loses nothing already shown.

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict
from sqlalchemy import func, or_, update
from sqlmodel import Session, SQLModel, col, select

from storage.bulk import paused_gc

# Re-exported: the rest of the app reaches every storage function and error through repo.
from storage.errors import ImportError_ as ImportError_
from storage.errors import InvalidValue as InvalidValue
from storage.errors import NotFound as NotFound
from storage.errors import StorageError as StorageError
from storage.imports import EXPORT_FORMAT, EXPORT_VERSION
from storage.imports import import_conversation as import_conversation
from storage.imports import load_export_bytes as load_export_bytes
from storage.imports import load_export_file as load_export_file
from storage.search import SearchFilters as SearchFilters
from storage.search import SearchHit as SearchHit
from storage.search import count_conversations as count_conversations
from storage.search import search as search
from storage.search import search_filters as search_filters
from storage.tables import (
    LANE_KINDS,
    MESSAGE_STATUSES,
    Annotation,
    Conversation,
    Lane,
    LaneKind,
    Message,
    MessageStatus,
    utcnow,
)

_Row = TypeVar("_Row", bound=SQLModel)


class ConversationSummary(BaseModel):
    """One row of the transcripts list, gathered without loading every message."""

    model_config = ConfigDict(frozen=True)

    id: int
    title: str
    updated_at: datetime
    message_count: int
    lane_labels: list[str]
    first_user_message: str | None


def _get(session: Session, model: type[_Row], row_id: int) -> _Row:
    row = session.get(model, row_id)
    if row is None:
        raise NotFound(f"{model.__name__.lower()} {row_id} does not exist")
    return row


def _commit(session: Session, *rows: SQLModel) -> None:
    # Refresh so the returned rows stay readable after the caller closes the session.
    try:
        session.commit()
    except Exception:
        session.rollback()
        raise
    for row in rows:
        session.refresh(row)


def _elsewhere(what: str, row_id: int, actual: int | None, expected: int) -> InvalidValue:
    return InvalidValue(f"{what} {row_id} belongs to conversation {actual}, not {expected}")


def _check_user_parent(session: Session, conversation_id: int, parent_id: int | None) -> None:
    if parent_id is None:
        return
    parent = _get(session, Message, parent_id)
    if parent.conversation_id != conversation_id:
        raise _elsewhere("message", parent_id, parent.conversation_id, conversation_id)
    if parent.role != "user":
        raise InvalidValue(f"message {parent_id} is a {parent.role} message; parents are user messages")


def create_conversation(*, session: Session, title: str = "") -> Conversation:
    """Start an empty conversation."""
    conversation = Conversation(title=title)
    session.add(conversation)
    _commit(session, conversation)
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
    temperature: float,
    top_p: float,
    top_k: int,
    max_tokens: int,
    seed: int | None,
    stop: Sequence[str],
) -> Lane:
    """Record a lane with everything needed to reproduce it; mask_snapshot must be JSON-ready.

    Raises NotFound for an unknown conversation, InvalidValue for an unknown kind.
    """
    if kind not in LANE_KINDS:
        raise InvalidValue(f"lane kind {kind!r} is not one of {', '.join(LANE_KINDS)}")
    if isinstance(stop, str):
        raise InvalidValue("stop is a list of strings, not a string")
    _get(session, Conversation, conversation_id)
    lane = Lane(
        conversation_id=conversation_id,
        position=position,
        label=label,
        kind=kind,
        model=model,
        mask_name=mask_name,
        mask_snapshot=None if mask_snapshot is None else dict(mask_snapshot),
        system_prompt=system_prompt,
        temperature=temperature,
        top_p=top_p,
        top_k=top_k,
        max_tokens=max_tokens,
        seed=seed,
        stop=list(stop),
    )
    session.add(lane)
    _commit(session, lane)
    return lane


def add_user_message(
    *, session: Session, conversation_id: int, parent_id: int | None, content: str
) -> Message:
    """Save a user message shared by every lane; parent_id is the previous user message on its path.

    Raises NotFound for an unknown conversation or parent, InvalidValue for a parent that is not a
    user message of this conversation.
    """
    conversation = _get(session, Conversation, conversation_id)
    _check_user_parent(session, conversation_id, parent_id)
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
    _commit(session, message)
    return message


def start_reply(
    *,
    session: Session,
    conversation_id: int,
    lane_id: int,
    parent_id: int | None,
    prompt: str | Sequence[Mapping[str, Any]],
    diverged_from_id: int | None = None,
    diverged_at: int | None = None,
) -> Message:
    """Save an empty, incomplete reply before the first token, so it survives a crash mid-stream.

    parent_id is the user message it answers. A branch from a token names the reply it copies its first
    `diverged_at` tokens from. Raises NotFound for an unknown conversation, lane or
    parent, InvalidValue when the lane or parent belongs elsewhere or the parent is not a user message.
    """
    conversation = _get(session, Conversation, conversation_id)
    lane = _get(session, Lane, lane_id)
    if lane.conversation_id != conversation_id:
        raise _elsewhere("lane", lane_id, lane.conversation_id, conversation_id)
    _check_user_parent(session, conversation_id, parent_id)
    if diverged_from_id is not None:
        source = _get(session, Message, diverged_from_id)
        if source.conversation_id != conversation_id:
            raise _elsewhere("message", diverged_from_id, source.conversation_id, conversation_id)
    if diverged_at is not None and diverged_at < 0:
        raise InvalidValue(f"diverged_at {diverged_at} is negative")
    now = utcnow()
    message = Message(
        diverged_from_id=diverged_from_id,
        diverged_at=diverged_at,
        conversation_id=conversation_id,
        lane_id=lane_id,
        parent_id=parent_id,
        role="model",
        content="",
        status="incomplete",
        prompt=prompt if isinstance(prompt, str) else [dict(m) for m in prompt],
        created_at=now,
    )
    conversation.updated_at = now
    session.add(message)
    _commit(session, message)
    return message


def update_reply(*, session: Session, message_id: int, content: str, tokens: Sequence[Any] | None) -> None:
    """Save a streaming reply's progress with one UPDATE; call it every so often, not per token.

    A reply already finished is left alone, so a late progress write cannot undo finish_reply.
    Raises NotFound for an unknown message.
    """
    statement = (
        update(Message)
        .where(col(Message.id) == message_id, col(Message.status) == "incomplete")
        .values(content=content, tokens=None if tokens is None else list(tokens))
    )
    try:
        result = session.exec(statement)
        session.commit()
    except Exception:
        session.rollback()
        raise
    if result.rowcount == 0:
        _get(session, Message, message_id)


def finish_reply(
    *,
    session: Session,
    message_id: int,
    content: str,
    tokens: Sequence[Any] | None,
    status: MessageStatus,
    finish_reason: str | None,
    error: str | None,
    ttft_ms: float | None,
    total_ms: float | None,
    tokens_per_s: float | None,
    seed: int | None = None,
    model_sha256: str | None = None,
    metrics: Mapping[str, Any] | None = None,
) -> Message:
    """Write a reply's final content, tokens, outcome, timings, and what it takes to replay it.

    Raises NotFound for an unknown message, InvalidValue for an unknown status or a user message.
    """
    if status not in MESSAGE_STATUSES:
        raise InvalidValue(f"status {status!r} is not one of {', '.join(MESSAGE_STATUSES)}")
    message = _get(session, Message, message_id)
    if message.role != "model":
        raise InvalidValue(f"message {message_id} is a {message.role} message, not a reply")
    conversation = _get(session, Conversation, message.conversation_id)
    message.content = content
    message.tokens = None if tokens is None else list(tokens)
    message.status = status
    message.finish_reason = finish_reason
    message.error = error
    message.ttft_ms = ttft_ms
    message.total_ms = total_ms
    message.tokens_per_s = tokens_per_s
    message.seed = seed
    message.model_sha256 = model_sha256
    message.metrics = None if metrics is None else dict(metrics)
    conversation.updated_at = utcnow()
    _commit(session, message)
    return message


def get_conversation(*, session: Session, conversation_id: int) -> Conversation:
    """Raises NotFound when there is no such conversation."""
    return _get(session, Conversation, conversation_id)


def set_title(*, session: Session, conversation_id: int, title: str) -> Conversation:
    """Rename a conversation; updated_at tracks messages, so renaming does not reorder the list.

    Raises NotFound for an unknown conversation.
    """
    conversation = _get(session, Conversation, conversation_id)
    conversation.title = title
    _commit(session, conversation)
    return conversation


def set_notes(*, session: Session, conversation_id: int, notes: str) -> Conversation:
    """Replace a conversation's notes. Raises NotFound for an unknown conversation."""
    conversation = _get(session, Conversation, conversation_id)
    conversation.notes = notes
    _commit(session, conversation)
    return conversation


def list_lanes(*, session: Session, conversation_id: int) -> list[Lane]:
    statement = (
        select(Lane)
        .where(col(Lane.conversation_id) == conversation_id)
        .order_by(col(Lane.position), col(Lane.id))
    )
    return list(session.exec(statement))


def list_messages(*, session: Session, conversation_id: int) -> list[Message]:
    """Every message of the conversation, oldest first; rebuild the tree from parent_id."""
    statement = (
        select(Message).where(col(Message.conversation_id) == conversation_id).order_by(col(Message.id))
    )
    with paused_gc():  # each reply's token JSON builds thousands of lists; see storage.bulk
        return list(session.exec(statement))


def list_conversations(*, session: Session, limit: int = 50, offset: int = 0) -> list[ConversationSummary]:
    """Conversations with the most recent activity first."""
    conversations = list(
        session.exec(
            select(Conversation)
            .order_by(col(Conversation.updated_at).desc(), col(Conversation.id).desc())
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
        session.exec(
            select(Message.conversation_id, Message.content).where(col(Message.id).in_(first_ids))
        ).all()
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


def add_annotation(
    *,
    session: Session,
    message_id: int | None = None,
    conversation_id: int | None = None,
    tags: Iterable[str] = (),
    rating: int | None = None,
    note: str = "",
) -> Annotation:
    """Annotate a message, or the whole conversation when message_id is None.

    An annotation on a message also records the message's conversation, so conversation-wide
    queries need no join. Raises NotFound for unknown ids, InvalidValue when neither id is given,
    the ids disagree, tags is a single string, or rating is outside -1..5.
    """
    _check_annotation(tags, rating)
    if message_id is not None:
        message = _get(session, Message, message_id)
        if conversation_id is not None and conversation_id != message.conversation_id:
            raise _elsewhere("message", message_id, message.conversation_id, conversation_id)
        conversation_id = message.conversation_id
    elif conversation_id is not None:
        _get(session, Conversation, conversation_id)
    else:
        raise InvalidValue("an annotation needs a message_id or a conversation_id")
    annotation = Annotation(
        message_id=message_id, conversation_id=conversation_id, tags=list(tags), rating=rating, note=note
    )
    session.add(annotation)
    _commit(session, annotation)
    return annotation


def _check_annotation(tags: Iterable[str], rating: int | None) -> None:
    if isinstance(tags, str):
        raise InvalidValue("tags is a list of strings, not a string")
    if rating is not None and not -1 <= rating <= 5:
        raise InvalidValue(f"rating {rating} is outside -1..5")


def update_annotation(
    *, session: Session, annotation_id: int, tags: Iterable[str], rating: int | None, note: str
) -> Annotation:
    """Replace an annotation's tags, rating and note (what it is attached to stays).

    Raises NotFound for an unknown annotation, InvalidValue as add_annotation does.
    """
    _check_annotation(tags, rating)
    annotation = _get(session, Annotation, annotation_id)
    annotation.tags = list(dict.fromkeys(tags))
    annotation.rating = rating
    annotation.note = note
    _commit(session, annotation)
    return annotation


def delete_annotation(*, session: Session, annotation_id: int) -> None:
    """Raises NotFound for an unknown annotation."""
    annotation = _get(session, Annotation, annotation_id)
    session.delete(annotation)
    try:
        session.commit()
    except Exception:
        session.rollback()
        raise


def list_annotations(*, session: Session, conversation_id: int) -> list[Annotation]:
    """Annotations on the conversation and on any of its messages, oldest first."""
    message_ids = select(Message.id).where(col(Message.conversation_id) == conversation_id)
    statement = (
        select(Annotation)
        .where(
            or_(
                col(Annotation.conversation_id) == conversation_id,
                col(Annotation.message_id).in_(message_ids),
            )
        )
        .order_by(col(Annotation.id))
    )
    return list(session.exec(statement))


def _row_dict(row: SQLModel) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in type(row).model_fields:
        value = getattr(row, name)
        out[name] = value.isoformat() if isinstance(value, datetime) else value
    return out


def export_conversation(*, session: Session, conversation_id: int) -> dict[str, Any]:
    """Everything stored about one conversation as a JSON-ready dict (datetimes as ISO strings).

    Raises NotFound for an unknown conversation.
    """
    conversation = _get(session, Conversation, conversation_id)
    lanes = list_lanes(session=session, conversation_id=conversation_id)
    messages = list_messages(session=session, conversation_id=conversation_id)
    annotations = list_annotations(session=session, conversation_id=conversation_id)
    return {
        "format": EXPORT_FORMAT,
        "version": EXPORT_VERSION,
        "conversation": _row_dict(conversation),
        "lanes": [_row_dict(r) for r in lanes],
        "messages": [_row_dict(r) for r in messages],
        "annotations": [_row_dict(r) for r in annotations],
    }
