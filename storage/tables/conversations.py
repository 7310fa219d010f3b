# The conversation tables: conversations, their lanes, messages (the tree) and annotations.
# Changing a table here needs a new revision in storage/migrations/versions (tests check they match).
# Migration 0002 adds FTS5 search triggers on message, annotation and conversation: a batch migration
# that recreates one of those tables drops its triggers and must create them again.
#
# Message tree convention (branches live in parent_id, nothing else):
#   - a user message's parent_id is the previous user message on its path (None for the first);
#   - a reply's parent_id is the user message it answers.
# So regenerated replies are siblings under one user message, and an edited user message is a
# sibling of the original. A path through the tree is a chain of user messages; each lane's reply
# to a turn is found by (parent_id, lane_id).

from datetime import datetime
from typing import Any, Literal

from sqlalchemy import Text
from sqlmodel import Field, SQLModel

from simulator.values import Contrast, SamplingSettings, Steering
from storage.tables.columns import SEED, UTCDateTime, json_column, utcnow

LaneKind = Literal["simulator", "chat"]
Role = Literal["user", "model"]
MessageStatus = Literal["complete", "incomplete", "error"]

LANE_KINDS: tuple[LaneKind, ...] = ("simulator", "chat")
RATINGS: tuple[int, ...] = (-1, 0, 1)  # bad, neutral, good: the one rating scale of every annotation
MESSAGE_STATUSES: tuple[MessageStatus, ...] = ("complete", "incomplete", "error")
# A lane stores each sampling setting in a column of the same name (so it can be filtered on), and an export
# file checks each one: both read the list from SamplingSettings itself.
SAMPLING_FIELDS: tuple[str, ...] = tuple(SamplingSettings.model_fields)


class Conversation(SQLModel, table=True):
    # SQLite would otherwise reuse the highest id after a delete, and exported transcripts cite ids.
    __table_args__ = {"sqlite_autoincrement": True}

    id: int | None = Field(default=None, primary_key=True)
    title: str = ""
    notes: str = Field(default="", sa_type=Text)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Lane(SQLModel, table=True):
    __table_args__ = {"sqlite_autoincrement": True}

    id: int | None = Field(default=None, primary_key=True)
    conversation_id: int = Field(foreign_key="conversation.id", index=True, ondelete="CASCADE")
    position: int
    label: str
    kind: str  # LaneKind
    model: str
    mask_name: str | None = None
    # The whole mask as it was, so an old transcript stays reproducible after the mask is edited.
    mask_snapshot: dict[str, Any] | None = Field(default=None, sa_column=json_column(nullable=True))
    system_prompt: str | None = Field(default=None, sa_type=Text)
    temperature: float
    top_p: float
    top_k: int
    max_tokens: int
    seed: int | None = Field(default=None, sa_type=SEED)
    stop: list[str] = Field(default_factory=list, sa_column=json_column(nullable=False))
    # A contrast lane (mask − contrast mask): simulator.values.Contrast without a document. None: a plain lane.
    contrast: dict[str, Any] | None = Field(default=None, sa_column=json_column(nullable=True))
    # A steered lane: simulator.values.Steering (a direction, α and layers; migration 0010). None: not steered.
    steering: dict[str, Any] | None = Field(default=None, sa_column=json_column(nullable=True))
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)

    @property
    def contrasted(self) -> Contrast | None:
        """The lane's contrast mask and γ, if it is a contrast lane."""
        return None if self.contrast is None else Contrast.model_validate(self.contrast)

    @property
    def steered(self) -> Steering | None:
        """The direction, α and layers the lane is steered with, if it is steered."""
        return None if self.steering is None else Steering.model_validate(self.steering)

    @property
    def settings(self) -> SamplingSettings:
        stored = {name: getattr(self, name) for name in SAMPLING_FIELDS}
        stored["stop"] = stored["stop"] or []  # the JSON column can hold null, which SamplingSettings refuses
        return SamplingSettings.model_validate(stored)


def sampling_columns(settings: SamplingSettings) -> dict[str, Any]:
    """A lane's sampling settings as the Lane columns that store them."""
    return settings.model_dump(include=set(SAMPLING_FIELDS))


# A setting added to SamplingSettings needs its Lane column (and a migration): say so at import, not on the
# first insert of a lane.
if _unstored := set(SAMPLING_FIELDS) - set(Lane.model_fields):
    raise TypeError(f"Lane has no column for the sampling settings {sorted(_unstored)}")


class Message(SQLModel, table=True):
    __table_args__ = {"sqlite_autoincrement": True}

    id: int | None = Field(default=None, primary_key=True)
    conversation_id: int = Field(foreign_key="conversation.id", index=True, ondelete="CASCADE")
    # None: a user message, shared by every lane of the turn.
    lane_id: int | None = Field(default=None, foreign_key="lane.id", ondelete="CASCADE")
    parent_id: int | None = Field(default=None, foreign_key="message.id", ondelete="CASCADE")
    role: str  # Role
    content: str = Field(default="", sa_type=Text)
    status: str = "complete"  # MessageStatus
    error: str | None = Field(default=None, sa_type=Text)
    finish_reason: str | None = None
    # Opaque to storage; simulator/ writes each token as [text, p, [[alt, p], ...]].
    tokens: list[Any] | None = Field(default=None, sa_column=json_column(nullable=True))
    # The exact document string or chat message list sent; None for user messages.
    prompt: str | list[Any] | None = Field(default=None, sa_column=json_column(nullable=True))
    ttft_ms: float | None = None
    total_ms: float | None = None
    tokens_per_s: float | None = None
    # Enough to replay a base-lane reply exactly: the seed actually used and the model file's sha256.
    seed: int | None = Field(default=None, sa_type=SEED)
    model_sha256: str | None = None
    # Opaque to storage; simulator/ writes FidelityMetrics.model_dump() (in-character probability, ...).
    metrics: dict[str, Any] | None = Field(default=None, sa_column=json_column(nullable=True))
    # The SamplingSettings the reply ran with: its lane's, or the turn's overrides of them. None for user
    # messages and replies saved before migration 0004 (they ran with their lane's).
    settings: dict[str, Any] | None = Field(default=None, sa_column=json_column(nullable=True))
    # A branch from a token: the reply it copies its first `diverged_at` tokens from. No foreign key,
    # see migration 0003.
    diverged_from_id: int | None = None
    diverged_at: int | None = None
    # A contrast lane's reply: simulator.values.Contrast with the exact document its mask B read (for replay).
    contrast: dict[str, Any] | None = Field(default=None, sa_column=json_column(nullable=True))
    # A steered reply: the simulator.values.Steering it was made with, so replay and branch steer it the same.
    steering: dict[str, Any] | None = Field(default=None, sa_column=json_column(nullable=True))
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Annotation(SQLModel, table=True):
    __table_args__ = {"sqlite_autoincrement": True}

    id: int | None = Field(default=None, primary_key=True)
    message_id: int | None = Field(default=None, foreign_key="message.id", index=True, ondelete="CASCADE")
    conversation_id: int | None = Field(default=None, foreign_key="conversation.id", index=True, ondelete="CASCADE")
    tags: list[str] = Field(default_factory=list, sa_column=json_column(nullable=False))
    rating: int | None = None
    note: str = Field(default="", sa_type=Text)
    # Who wrote it (the reviewer name of the browser session or the CLI); None: saved without one, or before
    # migration 0005. storage.annotations.check_reviewer is the rule for a name.
    reviewer: str | None = Field(default=None, max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
