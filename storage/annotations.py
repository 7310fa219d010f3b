# Tags, ratings and notes on a message or a whole conversation. The services call the functions as repo.*
# (repo.py re-exports them). check_reviewer is the one rule for a reviewer's name: settings, votes and import
# files check it here too.

import unicodedata
from collections.abc import Iterable

from sqlalchemy import or_
from sqlmodel import Session, col, select

from storage.errors import InvalidValue
from storage.rows import commit, elsewhere, get_row
from storage.tables import RATINGS, Annotation, Conversation, Message

REVIEWER_MAX_LENGTH = 64
# Control, format (bidi overrides, zero-width spaces), surrogate and private-use characters, and line breaks:
# a name that could hide, reorder or break the text shown beside it. Zero-width (non-)joiners stay: emoji need them.
_REFUSED_CATEGORIES = {"Cc", "Cf", "Cs", "Co", "Zl", "Zp"}
_JOINERS = {"\u200c", "\u200d"}


def check_reviewer(name: str) -> str:
    """A reviewer name as it is stored: trimmed, 1 to 64 characters, no control characters.

    Raises InvalidValue with one message saying what is wrong with it.
    """
    if not isinstance(name, str):
        raise InvalidValue("the reviewer name must be text")
    name = name.strip()
    if not name:
        raise InvalidValue("the reviewer name is empty")
    if len(name) > REVIEWER_MAX_LENGTH:
        raise InvalidValue(f"the reviewer name has {len(name)} characters; at most {REVIEWER_MAX_LENGTH} are allowed")
    for char in name:
        if unicodedata.category(char) in _REFUSED_CATEGORIES and char not in _JOINERS:
            raise InvalidValue(f"the reviewer name contains a control character (U+{ord(char):04X})")
    return name


def _reviewer(name: str | None) -> str | None:
    return None if name is None else check_reviewer(name)


def add_annotation(
    *,
    session: Session,
    message_id: int | None = None,
    conversation_id: int | None = None,
    tags: Iterable[str] = (),
    rating: int | None = None,
    note: str = "",
    reviewer: str | None = None,
) -> Annotation:
    """Annotate a message, or the whole conversation when message_id is None, as `reviewer` (None: no name).

    An annotation on a message also records the message's conversation, so conversation-wide
    queries need no join. Raises NotFound for unknown ids, InvalidValue when neither id is given,
    the ids disagree, tags is a single string, rating is not -1, 0 or +1, or the reviewer name is not
    one check_reviewer accepts.
    """
    _check_annotation(tags, rating)
    reviewer = _reviewer(reviewer)
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
        message_id=message_id,
        conversation_id=conversation_id,
        tags=list(tags),
        rating=rating,
        note=note,
        reviewer=reviewer,
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
    *,
    session: Session,
    annotation_id: int,
    tags: Iterable[str],
    rating: int | None,
    note: str,
    reviewer: str | None = None,
) -> Annotation:
    """Replace an annotation's tags, rating and note (what it is attached to stays). The reviewer who edits it
    becomes its reviewer, since the words are now theirs; without a name, the one it had stays.

    Raises NotFound for an unknown annotation, InvalidValue as add_annotation does.
    """
    _check_annotation(tags, rating)
    reviewer = _reviewer(reviewer)
    annotation = get_row(session, Annotation, annotation_id)
    annotation.tags = list(dict.fromkeys(tags))
    annotation.rating = rating
    annotation.note = note
    if reviewer is not None:
        annotation.reviewer = reviewer
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
