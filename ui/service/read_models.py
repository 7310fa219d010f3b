"""Typed read models: what the service hands the front ends. Stored JSON (token lists, fidelity metrics) is
decoded here, once, so pages and commands work with `Token` and `FidelityMetrics`, never with raw rows."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from simulator.events import Reply, Timings
from simulator.registry import ModelStatus
from simulator.values import Contrast, FidelityMetrics, SamplingSettings, Status, Steering, Token
from storage.repo import ConversationSummary, SearchFilters, SearchHit
from storage.tables import Annotation, Conversation, Lane, Message
from storage.tree import Selection, Turn

# Rows that are read models as they are: the saved lane (its `settings` property decodes the sampling
# columns), an annotation, a conversation's title and notes, and the search results.
__all__ = [
    "Annotation",
    "Conversation",
    "ConversationSummary",
    "ConversationView",
    "Lane",
    "ModelStatus",
    "SavedMessage",
    "SearchFilters",
    "SearchHit",
    "Selection",
    "Turn",
]


Stored = TypeVar("Stored", bound=BaseModel)


@dataclass(frozen=True)
class SavedMessage:
    """A saved message, user or model, with its tokens, metrics and annotations decoded."""

    id: int
    conversation_id: int
    lane_id: int | None
    parent_id: int | None
    role: str
    content: str
    status: Status
    error: str | None
    finish_reason: str | None
    prompt: str | list[Any] | None
    timings: Timings
    seed: int | None
    model_sha256: str | None
    metrics: FidelityMetrics | None
    settings: SamplingSettings | None  # what the reply ran with; None: its lane's (saved before they were kept)
    diverged_from_id: int | None
    diverged_at: int | None
    created_at: datetime
    annotations: list[Annotation] = field(default_factory=list)
    contrast: Contrast | None = None  # a contrast lane's reply: its mask B, γ and the document B read
    steering: Steering | None = None  # a steered reply: the direction, α and layers it was made with
    stored_tokens: list[Any] | None = field(default=None, repr=False)

    @classmethod
    def from_row(cls, row: Message, annotations: list[Annotation] | None = None) -> SavedMessage:
        assert row.id is not None
        return cls(
            id=row.id,
            conversation_id=row.conversation_id,
            lane_id=row.lane_id,
            parent_id=row.parent_id,
            role=row.role,
            content=row.content,
            status=row.status,  # type: ignore[arg-type]
            error=row.error,
            finish_reason=row.finish_reason,
            prompt=row.prompt,
            timings=Timings(ttft_ms=row.ttft_ms, total_ms=row.total_ms, tokens_per_s=row.tokens_per_s),
            seed=row.seed,
            model_sha256=row.model_sha256,
            metrics=_decoded(FidelityMetrics, row.metrics),
            settings=_decoded(SamplingSettings, row.settings),
            diverged_from_id=row.diverged_from_id,
            diverged_at=row.diverged_at,
            created_at=row.created_at,
            annotations=list(annotations or []),
            stored_tokens=row.tokens,
            contrast=_decoded(Contrast, row.contrast),
            steering=_decoded(Steering, row.steering),
        )

    @cached_property
    def tokens(self) -> list[Token]:
        """Decoded on first use: a long conversation's token lists are large, and most views never show them."""
        try:
            return [Token.from_compact(item) for item in self.stored_tokens or []]
        except (TypeError, ValueError, IndexError, AssertionError):
            # Imported before imports checked token shapes: the text still shows, without a token view.
            return []

    def as_reply(self) -> Reply:
        """The saved reply in the shape a live one streams in, so both are drawn the same way."""
        return Reply(
            text=self.content,
            tokens=self.tokens,
            status=self.status,
            finish_reason=self.finish_reason,  # type: ignore[arg-type]
            error=self.error,
            prompt=self.prompt,  # type: ignore[arg-type]
            timings=self.timings,
            seed=self.seed,
            metrics=self.metrics,
            model_sha256=self.model_sha256,
            diverged_at=self.diverged_at,
        )


def _decoded(model: type[Stored], stored: dict[str, Any] | None) -> Stored | None:
    """Stored JSON as its model; None when there is none, or when another version wrote it differently (the
    reply still shows, without what could not be read)."""
    if not stored:
        return None
    try:
        return model.model_validate(stored)
    except ValidationError:
        return None


@dataclass
class ConversationView:
    """Everything one drawing of a conversation needs, read in one go: its lanes, the selected path with
    each message's annotations, the annotations on the conversation itself, and every tag in use."""

    conversation: Conversation
    lanes: list[Lane]
    turns: list[Turn[SavedMessage]]
    annotations: list[Annotation]
    known_tags: list[str]

    @property
    def conversation_id(self) -> int:
        assert self.conversation.id is not None
        return self.conversation.id
