"""Our own typed events: llama.cpp dicts and litellm chunks become these at the edge of simulator/."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class Alternative(BaseModel):
    """One candidate the model weighed for a position, with its probability."""

    model_config = ConfigDict(frozen=True)

    text: str
    p: float


class Token(BaseModel):
    """A generated token. `p` and `top` are None/empty when the lane cannot see probabilities (chat)."""

    model_config = ConfigDict(frozen=True)

    text: str
    p: float | None = None
    top: list[Alternative] = Field(default_factory=list)

    def compact(self) -> list[object]:
        """The form stored in the database: short keys keep a token near 100 bytes with top-5."""
        if self.p is None:
            return [self.text]
        return [self.text, round(self.p, 5), [[alt.text, round(alt.p, 5)] for alt in self.top]]

    @classmethod
    def from_compact(cls, item: list[object]) -> Token:
        text = str(item[0])
        if len(item) == 1:
            return cls(text=text)
        top = item[2] if len(item) > 2 else []
        assert isinstance(top, list)
        return cls(
            text=text,
            p=float(item[1]),  # type: ignore[arg-type]
            top=[Alternative(text=str(a[0]), p=float(a[1])) for a in top],
        )


class SamplingSettings(BaseModel):
    """What a lane passes to its model on every turn."""

    model_config = ConfigDict(extra="forbid")

    temperature: float = Field(default=0.8, ge=0.0, le=2.0)
    top_p: float = Field(default=0.95, gt=0.0, le=1.0)
    top_k: int = Field(default=40, ge=0)
    max_tokens: int = Field(default=128, ge=1, le=4096)
    seed: int | None = None
    stop: list[str] = Field(default_factory=list)


FinishReason = Literal["stop", "length", "cancelled", "error"]
Status = Literal["complete", "incomplete", "error"]


@dataclass
class Timings:
    ttft_ms: float | None = None
    total_ms: float | None = None
    tokens_per_s: float | None = None


@dataclass
class LaneEvent:
    """Something that happened in one lane during a turn.

    kind: `start` (prompt is the exact document or message list sent), `notice` (a message for the
    user, such as dropped turns), `token`, `done` (finish_reason set) or `error` (error set).
    """

    lane_index: int
    kind: Literal["start", "notice", "token", "done", "error"]
    token: Token | None = None
    prompt: str | list[dict[str, str]] | None = None
    notice: str | None = None
    finish_reason: FinishReason | None = None
    error: str | None = None
    timings: Timings = field(default_factory=Timings)


@dataclass
class Reply:
    """Everything a lane produced in one turn, as shown and as saved."""

    text: str = ""
    tokens: list[Token] = field(default_factory=list)
    status: Status = "incomplete"
    finish_reason: FinishReason | None = None
    error: str | None = None
    notices: list[str] = field(default_factory=list)
    prompt: str | list[dict[str, str]] | None = None
    timings: Timings = field(default_factory=Timings)
