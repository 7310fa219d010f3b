"""The plain values a reply is made of and a lane is set up with: tokens, sampling settings, fidelity metrics
and the finish and status words. A leaf (pydantic and the standard library only), so storage and the service can
read and write them without importing the simulator's runtime (events.py: LaneEvent, Reply, Timings)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "MAX_SEED",
    "Alternative",
    "EndedBy",
    "FidelityMetrics",
    "FinishReason",
    "SamplingSettings",
    "Status",
    "Token",
]

FinishReason = Literal["stop", "length", "cancelled", "error"]
Status = Literal["complete", "incomplete", "error"]
EndedBy = Literal["user_turn", "natural", "length", "cancelled", "error"]


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
        """The form stored in the database, `[text, p, [[text, p], ...]]`: about 100 bytes a token with top-5
        as JSON. Probabilities keep 4 significant digits, so a tiny one stays above 0 (a perplexity needs it)."""
        if self.p is None:
            return [self.text]
        return [self.text, _significant(self.p), [[alt.text, _significant(alt.p)] for alt in self.top]]

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


def _significant(p: float) -> float:
    return float(f"{p:.4g}")


MAX_SEED = 2**32 - 1  # llama.cpp takes a 32-bit unsigned seed


class SamplingSettings(BaseModel):
    """What a lane passes to its model on every turn."""

    model_config = ConfigDict(extra="forbid")

    temperature: float = Field(default=0.8, ge=0.0, le=2.0)
    top_p: float = Field(default=0.95, gt=0.0, le=1.0)
    top_k: int = Field(default=40, ge=0)
    max_tokens: int = Field(default=128, ge=1, le=4096)
    seed: int | None = Field(default=None, ge=0, le=MAX_SEED)
    # fail_fast: an imported file's list of a million wrong items is one problem, not a million held in memory.
    stop: list[str] = Field(default_factory=list, fail_fast=True)


class FidelityMetrics(BaseModel):
    """How firmly a mask held its simulacrum in one base-lane reply; stored as JSON with the reply.

    in_character_p: P(the character's speaker tag, e.g. `Ada:` | the document before it), where the
        character's turn begins. None for masks without speaker tags.
    ended_by: `user_turn` when the reply stopped on the user's speaker tag (it began writing the user's
        turn), `natural` for the model's own end of text or another stop sequence, else the limit hit.
    perplexity: exp of the mean negative log probability of the reply's tokens under its own mask.
    raw_perplexity: the same reply's perplexity after the `raw` mask's document for the same history.
    mask_effect: raw_perplexity / perplexity; above 1, the mask made the reply more predictable.
    mask_effect_unavailable: why there is no mask effect, when the model cannot score a given text (a server
        that returns no prompt probabilities).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    in_character_p: float | None = None
    ended_by: EndedBy
    spoke_for_user: bool = False
    perplexity: float | None = None
    raw_perplexity: float | None = None
    mask_effect: float | None = None
    mask_effect_unavailable: str | None = None

    def compact(self) -> dict[str, object]:
        """The fields that have a value, rounded for badges and JSON output."""
        return {
            name: round(value, 4) if isinstance(value, float) else value
            for name, value in self.model_dump().items()
            if value is not None
        }
