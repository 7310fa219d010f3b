# Tags, ratings and notes on a message or a whole conversation; repo.py re-exports these functions, so the
# rest of the app still reaches them through repo.

from collections.abc import Iterable

from sqlalchemy import or_
from sqlmodel import Session, col, select

from storage.errors import InvalidValue
from storage.rows import commit, elsewhere, get_row
from storage.tables import RATINGS, Annotation, Conversation, Message


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
    the ids disagree, tags is a single string, or rating is not -1, 0 or +1.
    """
    _check_annotation(tags, rating)
    if message_id is not None:
        message = get_row(session, Message, message_id)
        if conversation_id is not None and conversation_id != message.conversation_id:
            raise elsewhere("message", message_id, message.conversation_id, conversation_id)
        conversation_id = message.conversation_id
    elif conversation_id is not None:
        get_row(session, Conversation, conversation_id)
    else:
        raise InvalidValue("an annotation needs a message_id or a conversation_id")
    annotation = Annotation(
        message_id=message_id, conversation_id=conversation_id, tags=list(tags), rating=rating, note=note
    )
    session.add(annotation)
    commit(session, annotation)
    return annotation


def _check_annotation(tags: Iterable[str], rating: int | None) -> None:
    if isinstance(tags, str):
        raise InvalidValue("tags is a list of strings, not a string")
    if rating is not None and rating not in RATINGS:
        raise InvalidValue(f"rating {rating} is not one of -1, 0, +1")


def update_annotation(
    *, session: Session, annotation_id: int, tags: Iterable[str], rating: int | None, note: str
) -> Annotation:
    """Replace an annotation's tags, rating and note (what it is attached to stays).

    Raises NotFound for an unknown annotation, InvalidValue as add_annotation does.
    """
    _check_annotation(tags, rating)
    annotation = get_row(session, Annotation, annotation_id)
    annotation.tags = list(dict.fromkeys(tags))
    annotation.rating = rating
    annotation.note = note
    commit(session, annotation)
    return annotation


def delete_annotation(*, session: Session, annotation_id: int) -> None:
    """Raises NotFound for an unknown annotation."""
    annotation = get_row(session, Annotation, annotation_id)
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
