# A reply's writes as it streams, for conversations (repo.py re-exports them) and runs alike: started before its
# first token, so a crash mid-stream keeps it; updated every so often; finished once. A run writes thousands of
# replies from many threads, so none of these loads a row to check it or to read it back.

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import bindparam, update
from sqlmodel import Session, SQLModel, col, select

from simulator.values import Contrast, SamplingSettings, Steering
from storage.abandon import update_incomplete
from storage.errors import InvalidValue
from storage.rows import commit_new, elsewhere, get_columns, get_row
from storage.tables import MESSAGE_STATUSES, Conversation, Lane, Message, MessageStatus, utcnow


def check_user_parent(session: Session, conversation_id: int, parent_id: int | None) -> None:
    if parent_id is None:
        return
    parent_conversation, role = get_columns(session, Message, parent_id, Message.conversation_id, Message.role)
    if parent_conversation != conversation_id:
        raise elsewhere("message", parent_id, parent_conversation, conversation_id)
    if role != "user":
        raise InvalidValue(f"message {parent_id} is a {role} message; parents are user messages")


def start_reply(
    *,
    session: Session,
    conversation_id: int,
    lane_id: int,
    parent_id: int | None,
    prompt: str | Sequence[Mapping[str, Any]],
    diverged_from_id: int | None = None,
    diverged_at: int | None = None,
    settings: SamplingSettings | None = None,
    contrast: Contrast | None = None,
    steering: Steering | None = None,
) -> Message:
    """Save an empty, incomplete reply before the first token, so it survives a crash mid-stream.

    parent_id is the user message it answers. A branch from a token names the reply it copies its first
    `diverged_at` tokens from; `settings` are the sampling settings it runs with. Raises NotFound for an
    unknown conversation, lane or parent, InvalidValue when the lane or parent belongs elsewhere or the parent
    is not a user message.
    """
    get_columns(session, Conversation, conversation_id, Conversation.id)
    (lane_conversation,) = get_columns(session, Lane, lane_id, Lane.conversation_id)
    if lane_conversation != conversation_id:
        raise elsewhere("lane", lane_id, lane_conversation, conversation_id)
    check_user_parent(session, conversation_id, parent_id)
    if diverged_from_id is not None:
        (source_conversation,) = get_columns(session, Message, diverged_from_id, Message.conversation_id)
        if source_conversation != conversation_id:
            raise elsewhere("message", diverged_from_id, source_conversation, conversation_id)
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
        settings=None if settings is None else settings.model_dump(mode="json"),
        contrast=None if contrast is None else contrast.model_dump(mode="json"),
        steering=None if steering is None else steering.model_dump(mode="json"),
        created_at=now,
    )
    session.add(message)
    session.exec(  # type: ignore[call-overload]
        update(Conversation).where(col(Conversation.id) == conversation_id).values(updated_at=now)
    )
    commit_new(session, message)
    return message


def update_reply(*, session: Session, message_id: int, content: str, tokens: Sequence[Any] | None) -> None:
    """Save a streaming reply's progress with one UPDATE; call it every so often, not per token.

    A reply already finished is left alone, so a late progress write cannot undo finish_reply.
    Raises NotFound for an unknown message.
    """
    values = {"content": content, "tokens": None if tokens is None else list(tokens)}
    changed = update_incomplete(session, col(Message.id) == message_id, values)
    if changed == 0:
        get_row(session, Message, message_id)


# A reply's last write, built once with bound parameters: a run finishes thousands of replies from many threads,
# and building the UPDATE, then loading the message and its conversation to check them, cost more Python time than
# anything else a remote sample does (bench/experiment_remote.py). Not synchronized with the session's rows: none
# is read after it.
_FINISHED = "content tokens status finish_reason error ttft_ms total_ms tokens_per_s seed model_sha256 metrics".split()
_MESSAGE = SQLModel.metadata.tables["message"]
_FINISH_REPLY = (
    update(Message)
    .where(col(Message.id) == bindparam("reply_id"), col(Message.role) == "model")
    .values({name: bindparam(f"new_{name}", type_=_MESSAGE.c[name].type) for name in _FINISHED})
    .execution_options(synchronize_session=False)
)
_TOUCH_CONVERSATION = (
    update(Conversation)
    .where(
        col(Conversation.id)
        == select(Message.conversation_id).where(col(Message.id) == bindparam("reply_id")).scalar_subquery()
    )
    .values(updated_at=bindparam("now"))
    .execution_options(synchronize_session=False)
)


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
) -> None:
    """Write a reply's final content, tokens, outcome, timings, and what it takes to replay it.

    Raises NotFound for an unknown message, InvalidValue for an unknown status or a user message.
    """
    if status not in MESSAGE_STATUSES:
        raise InvalidValue(f"status {status!r} is not one of {', '.join(MESSAGE_STATUSES)}")
    finished = {
        "content": content,
        "tokens": None if tokens is None else list(tokens),
        "status": status,
        "finish_reason": finish_reason,
        "error": error,
        "ttft_ms": ttft_ms,
        "total_ms": total_ms,
        "tokens_per_s": tokens_per_s,
        "seed": seed,
        "model_sha256": model_sha256,
        "metrics": None if metrics is None else dict(metrics),
    }
    params = {"reply_id": message_id, **{f"new_{name}": value for name, value in finished.items()}}
    try:
        changed = session.exec(_FINISH_REPLY, params=params).rowcount  # type: ignore[call-overload]
        if changed:
            session.exec(_TOUCH_CONVERSATION, params={"reply_id": message_id, "now": utcnow()})  # type: ignore[call-overload]
        session.commit()
    except Exception:
        session.rollback()
        raise
    if not changed:
        message = get_row(session, Message, message_id)
        raise InvalidValue(f"message {message_id} is a {message.role} message, not a reply")
