# The table of blind pairwise judgements (issue 13); migration 0007 creates it. A judgement links both replies
# and records which one was shown on the left; it never changes an annotation.

from datetime import datetime
from typing import Any, Literal

from sqlalchemy import JSON, Column, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from storage.tables.columns import UTCDateTime, utcnow

Better = Literal["left", "right", "tie", "bad"]
BETTER: tuple[Better, ...] = ("left", "right", "tie", "bad")  # bad: both replies are bad
ANSWERS = ("left", "right", "both", "neither")


class Judgement(SQLModel, table=True):
    # One vote per reviewer and pair: the queue never shows a reviewer a pair twice, and the database agrees.
    __table_args__ = (UniqueConstraint("pair", "reviewer"), {"sqlite_autoincrement": True})

    id: int | None = Field(default=None, primary_key=True)
    # "<lower message id>-<higher message id>": the same for both orders, so votes on one pair group together.
    pair: str = Field(max_length=64, index=True)
    # The two replies in the order they were shown.
    left_message_id: int = Field(foreign_key="message.id", index=True, ondelete="CASCADE")
    right_message_id: int = Field(foreign_key="message.id", index=True, ondelete="CASCADE")
    better: str  # Better
    # Question key -> left | right | both | neither, for the question set named below.
    answers: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON(none_as_null=True), nullable=False))
    note: str = Field(default="", sa_type=Text)
    reviewer: str = Field(max_length=64, index=True)
    question_set: str = Field(default="default", max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
