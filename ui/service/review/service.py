"""Blind review: the next pair for a reviewer (without identities), saving a vote and then revealing who wrote
what, the leaderboard and the exports. Every method opens its own short session, so a front end never holds one.
The queue's rules live in queue.py, the leaderboard's in leaderboard.py, the file formats in exports.py."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy.engine import Engine
from sqlmodel import Session

from personas.questions import (
    DEFAULT_SET,
    MAX_FILE_BYTES,
    QuestionSet,
    QuestionSetError,
    list_question_sets,
    load_question_set,
    save_question_set,
)
from simulator.values import Token
from storage import experiments, judgements
from storage.errors import NotFound
from storage.judgements import ReplyIdentity
from storage.tables.judgements import BETTER
from ui.service.errors import ServiceError
from ui.service.review.exports import JUDGEMENT_FORMATS, LEADERBOARD_FORMATS, judgements_export, leaderboard_export
from ui.service.review.leaderboard import BY, By, Leaderboard, build_leaderboard
from ui.service.review.queue import (
    Source,
    candidate_pairs,
    key_of,
    parse_pair,
    parse_source,
    queue_key,
    shown_order,
)

__all__ = [
    "BETTER",
    "BY",
    "BlindPair",
    "Filters",
    "Identity",
    "Question",
    "Revealed",
    "Review",
    "ReviewQueue",
    "Source",
    "parse_source",
]


class Question(BaseModel):
    key: str
    text: str


class BlindPair(BaseModel):
    """A pair as a reviewer sees it before voting: the prompt and two replies, nothing about who wrote them."""

    pair: str
    prompt: str
    left: str
    right: str
    question_set: str
    questions: list[Question]
    # For the page's token view; left out of `review next --json`, which shows the texts.
    left_tokens: list[Token] = Field(default_factory=list, exclude=True)
    right_tokens: list[Token] = Field(default_factory=list, exclude=True)


class ReviewQueue(BaseModel):
    """The next pair (None: nothing left to review) and progress: `done` of `total` pairs voted on."""

    pair: BlindPair | None
    done: int
    total: int


class Identity(BaseModel):
    message_id: int
    conversation_id: int
    label: str
    model: str
    mask: str | None
    seed: int | None


class Revealed(BaseModel):
    """A saved vote, and who wrote each side."""

    judgement_id: int
    pair: str
    better: str
    left: Identity
    right: Identity


@dataclass(frozen=True)
class Filters:
    reviewer: str | None = None
    question_set: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    run_id: int | None = None


@dataclass(frozen=True)
class FilterChoices:
    """What a leaderboard can be narrowed to: the reviewers and question sets that have voted, and the stored
    experiment runs as (id, "run ID · SUITE"), newest first."""

    reviewers: list[str]
    question_sets: list[str]
    runs: list[tuple[int, str]]


def _identity(reply: ReplyIdentity) -> Identity:
    return Identity(
        message_id=reply.message_id,
        conversation_id=reply.conversation_id,
        label=reply.label,
        model=reply.model,
        mask=reply.mask,
        seed=reply.seed,
    )


def _tokens(stored: Sequence[Any] | None) -> list[Token]:
    return [Token.from_compact(item) for item in stored or []]


class Review:
    def __init__(self, engine: Engine, questions_dir: Path | None = None) -> None:
        self.engine = engine
        self.questions_dir = questions_dir

    # -- question sets ----------------------------------------------------------------------------------

    def question_sets(self) -> list[QuestionSet]:
        """Raises ServiceError when a user's set file is broken."""
        try:
            return list_question_sets(self.questions_dir)
        except QuestionSetError as e:
            raise ServiceError(str(e)) from e

    def question_set(self, name: str = DEFAULT_SET) -> QuestionSet:
        """Raises ServiceError for an unknown set or a broken file."""
        try:
            return load_question_set(name, self.questions_dir)
        except QuestionSetError as e:
            raise ServiceError(str(e)) from e

    def import_question_set(self, path: Path) -> QuestionSet:
        """Check a question set file completely, then add it to the user's sets (nothing is written otherwise).

        Raises ServiceError naming the file and its problem (an unknown key, a bad answer key, ...).
        """
        if self.questions_dir is None:
            raise ServiceError("there is no folder for your question sets")
        try:
            if path.stat().st_size > MAX_FILE_BYTES:
                raise ServiceError(f"{path}: larger than {MAX_FILE_BYTES // 1024} KB, not a question set")
            text = path.read_bytes().decode("utf-8")
            return save_question_set(text, str(path), self.questions_dir)
        except QuestionSetError as e:
            raise ServiceError(str(e)) from e
        except UnicodeDecodeError as e:
            raise ServiceError(f"{path}: not UTF-8 text") from e
        except OSError as e:
            raise ServiceError(f"cannot read {path}: {e.strerror or e}") from e

    # -- the queue --------------------------------------------------------------------------------------

    def _replies(self, session: Session, source: Source) -> list[ReplyIdentity]:
        if source.kind == "conversation":
            return judgements.review_replies(session=session, conversation_ids=[source.number])
        if source.kind == "tag":
            tagged = judgements.conversations_tagged(session=session, tag=source.value)
            return judgements.review_replies(session=session, conversation_ids=tagged)
        if source.kind == "run":
            sampled = judgements.run_message_ids(session=session, run_id=source.number)
            return judgements.review_replies(session=session, message_ids=sampled)
        return judgements.review_replies(session=session)

    def next_pair(self, reviewer: str, source: Source | None = None, question_set: str = DEFAULT_SET) -> ReviewQueue:
        """The next pair from `source` that `reviewer` has not voted on, in their own stable shuffled order, with
        left and right as they will be recorded. Raises ServiceError for an unknown question set."""
        questions = self.question_set(question_set)
        source = source or Source()
        with Session(self.engine) as session:
            replies = self._replies(session, source)
            pairs = candidate_pairs(replies, source.value if source.kind == "lane" else None)
            voted = judgements.voted_pairs(session=session, reviewer=reviewer)
            left_to_do = [key_of(p) for p in pairs if key_of(p) not in voted]
            done = len(pairs) - len(left_to_do)
            if not left_to_do:
                return ReviewQueue(pair=None, done=done, total=len(pairs))
            pair = min(left_to_do, key=lambda key: queue_key(key, reviewer))
            left_id, right_id = shown_order(pair, reviewer)
            texts = judgements.reply_texts(session=session, message_ids=[left_id, right_id])
        blind = BlindPair(
            pair=pair,
            prompt=texts[left_id].prompt,
            left=texts[left_id].content,
            right=texts[right_id].content,
            question_set=questions.name,
            questions=[Question(key=q.key, text=q.text) for q in questions.questions],
            left_tokens=_tokens(texts[left_id].tokens),
            right_tokens=_tokens(texts[right_id].tokens),
        )
        return ReviewQueue(pair=blind, done=done, total=len(pairs))

    def vote(
        self,
        pair: str,
        *,
        reviewer: str,
        better: str,
        answers: Mapping[str, str] | None = None,
        note: str = "",
        question_set: str = DEFAULT_SET,
    ) -> Revealed:
        """Save `reviewer`'s vote on `pair` in the order they were shown it, then reveal both sides.

        Raises ServiceError (nothing saved) for a pair that does not exist, an unknown question set, an answer
        to a question the set does not ask, or a value that is not one of the choices; InvalidValue when
        the reviewer already voted on the pair or the name is refused.
        """
        if better not in BETTER:
            raise ServiceError(f"better is one of {', '.join(BETTER)}, not {better!r}")
        questions = self.question_set(question_set)
        try:
            checked = questions.check_answers(dict(answers or {}))
        except QuestionSetError as e:
            raise ServiceError(str(e)) from e
        left_id, right_id = shown_order(pair, reviewer)
        with Session(self.engine) as session:
            sides = {r.message_id: r for r in judgements.review_replies(session=session, message_ids=parse_pair(pair))}
            if len(sides) != 2 or sides[left_id].parent_id != sides[right_id].parent_id:
                raise ServiceError(f"there is no pair {pair}: its messages are not two saved replies to one turn")
            try:
                saved = judgements.add_judgement(
                    session=session,
                    left_message_id=left_id,
                    right_message_id=right_id,
                    better=better,
                    answers=checked,
                    note=note,
                    reviewer=reviewer,
                    question_set=questions.name,
                )
            except NotFound as e:  # deleted since it was read above
                raise ServiceError(f"there is no pair {pair}: {e}") from e
        assert saved.id is not None
        left, right = _identity(sides[left_id]), _identity(sides[right_id])
        return Revealed(judgement_id=saved.id, pair=pair, better=better, left=left, right=right)

    # -- results ----------------------------------------------------------------------------------------

    def _rows(self, filters: Filters) -> list[judgements.JudgementRow]:
        with Session(self.engine) as session:
            sampled = None
            if filters.run_id is not None:
                sampled = judgements.run_message_ids(session=session, run_id=filters.run_id)
            return judgements.list_judgements(
                session=session,
                reviewer=filters.reviewer,
                question_set=filters.question_set,
                since=filters.since,
                until=filters.until,
                message_ids=sampled,
            )

    def filter_choices(self) -> FilterChoices:
        with Session(self.engine) as session:
            reviewers, question_sets = judgements.judgement_facets(session=session)
            stored = experiments.list_runs(session=session)
        runs = [(run.id or 0, f"run {run.id} · {suite.name}") for run, suite in stored]
        return FilterChoices(reviewers=reviewers, question_sets=question_sets, runs=runs)

    def leaderboard(
        self, by: str = "lane", filters: Filters | None = None, *, resamples: int = 1000, seed: int = 0
    ) -> Leaderboard:
        """Raises ServiceError for an unknown grouping."""
        if by not in BY:
            raise ServiceError(f"a leaderboard is by {', '.join(BY)}, not {by!r}")
        grouping: By = by  # type: ignore[assignment]
        return build_leaderboard(self._rows(filters or Filters()), grouping, resamples=resamples, seed=seed)

    def export(self, fmt: str, filters: Filters | None = None) -> str:
        """Judgements as csv, jsonl or dpo. Raises ServiceError for another format."""
        if fmt not in JUDGEMENT_FORMATS:
            raise ServiceError(f"judgements export as {', '.join(JUDGEMENT_FORMATS)}, not {fmt!r}")
        rows = self._rows(filters or Filters())
        ids = {reply.message_id for row in rows for reply in (row.left, row.right)}
        with Session(self.engine) as session:
            texts = judgements.reply_texts(session=session, message_ids=ids)
        return judgements_export(rows, texts, fmt)

    def export_leaderboard(self, board: Leaderboard, fmt: str) -> str:
        """The leaderboard as md, csv or json. Raises ServiceError for another format."""
        if fmt not in LEADERBOARD_FORMATS:
            raise ServiceError(f"the leaderboard exports as {', '.join(LEADERBOARD_FORMATS)}, not {fmt!r}")
        return leaderboard_export(board, fmt)
