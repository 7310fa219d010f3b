# Blind review's storage: the replies a review queue is drawn from, and judgements saved and read back with both
# replies' identities. Only the review service (ui/service/review/) calls it; nothing here changes an annotation.

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select as sql_select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, select

from storage.annotations import check_reviewer
from storage.errors import InvalidValue
from storage.rows import commit, get_row
from storage.tables import Annotation, Lane, Message
from storage.tables.experiments import RunSample
from storage.tables.judgements import ANSWERS, BETTER, Judgement

__all__ = [
    "JudgementRow",
    "ReplyIdentity",
    "ReplyText",
    "add_judgement",
    "conversations_tagged",
    "voted_pairs",
    "judgement_facets",
    "list_judgements",
    "pair_key",
    "review_replies",
    "reply_texts",
    "run_message_ids",
]


# Plain frozen dataclasses rather than pydantic models: a leaderboard reads tens of thousands of these, and they
# come from the database already typed.
@dataclass(frozen=True, slots=True)
class ReplyIdentity:
    """Who wrote a reply: what blind review hides until the vote is saved."""

    message_id: int
    parent_id: int
    conversation_id: int
    lane_id: int
    label: str
    model: str
    mask: str | None
    seed: int | None


@dataclass(frozen=True, slots=True)
class ReplyText:
    message_id: int
    content: str
    prompt: str  # the user message it answers
    tokens: Sequence[Any] | None


@dataclass(frozen=True, slots=True)
class JudgementRow:
    id: int
    pair: str
    left: ReplyIdentity
    right: ReplyIdentity
    better: str
    answers: dict[str, str]
    note: str
    reviewer: str
    question_set: str
    created_at: datetime


def pair_key(first_id: int, second_id: int) -> str:
    """The id of a pair of replies, the same whichever is shown first."""
    low, high = sorted((first_id, second_id))
    return f"{low}-{high}"


_REPLY_COLUMNS: tuple[Any, ...] = (
    Message.id,
    Message.parent_id,
    Message.conversation_id,
    Message.lane_id,
    Lane.label,
    Lane.model,
    Lane.mask_name,
    Message.seed,
)


def _identity(row: Any) -> ReplyIdentity:
    message_id, parent_id, conversation_id, lane_id, label, model, mask, seed = row
    return ReplyIdentity(
        message_id=message_id,
        parent_id=parent_id,
        conversation_id=conversation_id,
        lane_id=lane_id,
        label=label,
        model=model,
        mask=mask,
        seed=seed,
    )


_JUDGEMENT_COLUMNS: tuple[Any, ...] = (
    Judgement.id,
    Judgement.pair,
    Judgement.better,
    Judgement.answers,
    Judgement.note,
    Judgement.reviewer,
    Judgement.question_set,
    Judgement.created_at,
)


def review_replies(
    *, session: Session, conversation_ids: Collection[int] | None = None, message_ids: Collection[int] | None = None
) -> list[ReplyIdentity]:
    """Every complete, non-empty reply that answers a user message, oldest first, optionally only those in
    `conversation_ids` or with an id in `message_ids`."""
    statement = (
        sql_select(*_REPLY_COLUMNS)
        .join(Lane, col(Lane.id) == col(Message.lane_id))
        .where(col(Message.role) == "model", col(Message.status) == "complete", col(Message.content) != "")
        .where(col(Message.parent_id).is_not(None))
        .order_by(col(Message.id))
    )
    if conversation_ids is not None:
        statement = statement.where(col(Message.conversation_id).in_(list(conversation_ids)))
    if message_ids is not None:
        statement = statement.where(col(Message.id).in_(list(message_ids)))
    return [_identity(row) for row in session.execute(statement)]


def conversations_tagged(*, session: Session, tag: str) -> set[int]:
    """Conversations with `tag` on themselves or on any of their messages."""
    rows = session.exec(select(Annotation.conversation_id, Annotation.tags))
    return {conversation_id for conversation_id, tags in rows if conversation_id is not None and tag in (tags or [])}


def run_message_ids(*, session: Session, run_id: int) -> set[int]:
    """The replies an experiment run sampled."""
    rows = session.exec(select(RunSample.message_id).where(col(RunSample.run_id) == run_id))
    return {message_id for message_id in rows if message_id is not None}


def reply_texts(*, session: Session, message_ids: Collection[int]) -> dict[int, ReplyText]:
    """Each reply's text and the user message it answers, by id (unknown ids are left out)."""
    user = aliased(Message)
    statement = (
        select(Message.id, Message.content, Message.tokens, user.content)
        .join(user, col(user.id) == col(Message.parent_id))
        .where(col(Message.id).in_(list(message_ids)))
    )
    texts: dict[int, ReplyText] = {}
    for message_id, content, tokens, prompt in session.exec(statement):
        assert message_id is not None
        texts[message_id] = ReplyText(message_id=message_id, content=content, prompt=prompt, tokens=tokens)
    return texts


def judgement_facets(*, session: Session) -> tuple[list[str], list[str]]:
    """The reviewers and the question sets of the saved judgements, each sorted: what a leaderboard can narrow to."""
    reviewers = session.exec(select(Judgement.reviewer).distinct())
    question_sets = session.exec(select(Judgement.question_set).distinct())
    return sorted(reviewers), sorted(question_sets)


def voted_pairs(*, session: Session, reviewer: str) -> set[str]:
    """The pairs `reviewer` has voted on."""
    return set(session.exec(select(Judgement.pair).where(col(Judgement.reviewer) == reviewer)))


def _check_judgement(better: str, answers: Mapping[str, str], question_set: str) -> None:
    if better not in BETTER:
        raise InvalidValue(f"better is one of {', '.join(BETTER)}, not {better!r}")
    for key, value in answers.items():
        if not isinstance(key, str) or value not in ANSWERS:
            raise InvalidValue(f"the answer to {key!r} is one of {', '.join(ANSWERS)}, not {value!r}")
    if not question_set or len(question_set) > 64:
        raise InvalidValue("the question set's name must be 1 to 64 characters")


def _check_pair(session: Session, left_message_id: int, right_message_id: int) -> None:
    if left_message_id == right_message_id:
        raise InvalidValue(f"a pair needs two different replies, not message {left_message_id} twice")
    left, right = get_row(session, Message, left_message_id), get_row(session, Message, right_message_id)
    for message in (left, right):
        if message.role != "model" or message.lane_id is None:
            raise InvalidValue(f"message {message.id} is not a reply")
    if left.parent_id != right.parent_id or left.parent_id is None:
        raise InvalidValue(f"messages {left.id} and {right.id} do not answer the same user message")


def add_judgement(
    *,
    session: Session,
    left_message_id: int,
    right_message_id: int,
    better: str,
    answers: Mapping[str, str],
    note: str,
    reviewer: str,
    question_set: str,
) -> Judgement:
    """Save one blind vote on two replies to the same user message, in the order they were shown.

    Raises NotFound for an unknown message; InvalidValue when they are not two replies to one user message,
    `better` or an answer is not a known value, the reviewer name is refused, or `reviewer` already voted on
    this pair. Nothing is saved then.
    """
    _check_judgement(better, answers, question_set)
    reviewer = check_reviewer(reviewer)
    _check_pair(session, left_message_id, right_message_id)
    pair = pair_key(left_message_id, right_message_id)
    already = InvalidValue(f"{reviewer} already judged pair {pair}")
    if pair in voted_pairs(session=session, reviewer=reviewer):
        raise already
    judgement = Judgement(
        pair=pair,
        left_message_id=left_message_id,
        right_message_id=right_message_id,
        better=better,
        answers=dict(answers),
        note=note,
        reviewer=reviewer,
        question_set=question_set,
    )
    session.add(judgement)
    try:
        commit(session, judgement)
    except IntegrityError as e:  # the same reviewer voted on it from another window a moment ago
        raise already from e
    return judgement


def _judgements_with_identities() -> Any:
    """Each judgement's columns, then each side's identity columns (as _identity reads them), oldest first."""
    left_message, right_message = aliased(Message), aliased(Message)
    left_lane, right_lane = aliased(Lane), aliased(Lane)
    sides: list[tuple[Any, Any]] = [(left_message, left_lane), (right_message, right_lane)]
    columns = [
        column
        for message, lane in sides
        for column in (message.id, message.parent_id, message.conversation_id, message.lane_id)
        + (lane.label, lane.model, lane.mask_name, message.seed)
    ]
    return (
        sql_select(*_JUDGEMENT_COLUMNS, *columns)
        .join(left_message, col(left_message.id) == col(Judgement.left_message_id))
        .join(left_lane, col(left_lane.id) == col(left_message.lane_id))
        .join(right_message, col(right_message.id) == col(Judgement.right_message_id))
        .join(right_lane, col(right_lane.id) == col(right_message.lane_id))
        .order_by(col(Judgement.id))
    )


def list_judgements(
    *,
    session: Session,
    reviewer: str | None = None,
    question_set: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    message_ids: Collection[int] | None = None,
) -> list[JudgementRow]:
    """Judgements oldest first with both replies' identities; filters by reviewer, question set, date (since
    inclusive, until exclusive) and, with `message_ids`, only votes whose two replies are both among them."""
    statement = _filtered(_judgements_with_identities(), reviewer, question_set, since, until, message_ids)
    identities: dict[int, ReplyIdentity] = {}  # one object per reply, however many votes it has

    def identity(values: Any) -> ReplyIdentity:
        found = identities.get(values[0])
        if found is None:
            found = identities[values[0]] = _identity(values)
        return found

    rows = []
    # Through the connection: plain rows, without the ORM's per-row bookkeeping (a third of the time for 10,000).
    for row in session.connection().execute(statement):
        judgement_id, pair, better, answers, note, reviewer_name, set_name, created_at = row[:8]
        rows.append(
            JudgementRow(
                id=judgement_id,
                pair=pair,
                left=identity(row[8:16]),
                right=identity(row[16:24]),
                better=better,
                answers=dict(answers),
                note=note,
                reviewer=reviewer_name,
                question_set=set_name,
                created_at=created_at,
            )
        )
    return rows


def _filtered(
    statement: Any,
    reviewer: str | None,
    question_set: str | None,
    since: datetime | None,
    until: datetime | None,
    message_ids: Collection[int] | None,
) -> Any:
    """`statement` narrowed by list_judgements' filters."""
    if reviewer is not None:
        statement = statement.where(col(Judgement.reviewer) == reviewer)
    if question_set is not None:
        statement = statement.where(col(Judgement.question_set) == question_set)
    if since is not None:
        statement = statement.where(col(Judgement.created_at) >= since)
    if until is not None:
        statement = statement.where(col(Judgement.created_at) < until)
    if message_ids is not None:
        ids = list(message_ids)
        statement = statement.where(col(Judgement.left_message_id).in_(ids), col(Judgement.right_message_id).in_(ids))
    return statement
