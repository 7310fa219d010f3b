"""The plain values a reply is made of and a lane is set up with: tokens, sampling settings, fidelity metrics
and the finish and status words. A leaf (pydantic and the standard library only), so storage and the service can
read and write them without importing the simulator's runtime (events.py: LaneEvent, Reply, Timings)."""

from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = [
    "ENTROPY_BOUND",
    "MAX_SEED",
    "SMALLEST_P",
    "MAX_GAMMA",
    "Alternative",
    "Contrast",
    "EndedBy",
    "FidelityMetrics",
    "FinishReason",
    "EXACT_ROWS",
    "GroupLayout",
    "SamplingSettings",
    "Status",
    "Steering",
    "MAX_ALPHA",
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
    """A generated token. `p` and `top` are None/empty when the lane cannot see probabilities (chat).

    `entropy` (nats) is the spread of the distribution the token was drawn from: over the whole vocabulary
    in-process; from a server, only a lower bound from the top-k it returned (`entropy_bound`). None for tokens
    saved before entropy was recorded, and for chat lanes.
    """

    model_config = ConfigDict(frozen=True)

    text: str
    p: float | None = None
    top: list[Alternative] = Field(default_factory=list)
    entropy: float | None = None
    entropy_bound: bool = False

    @property
    def surprisal(self) -> float | None:
        """−ln p, in nats: how unexpected the token was (0 for a certain one)."""
        if self.p is None:
            return None
        return -math.log(max(self.p, SMALLEST_P))

    def compact(self) -> list[object]:
        """The form stored in the database, `[text, p, [[text, p], ...]]`: about 100 bytes a token with top-5
        as JSON, then the entropy when known, then `"bound"` when it is a lower bound:
        `[text, p, top, entropy]` or `[text, p, top, entropy, "bound"]`. Probabilities keep 4 significant
        digits, so a tiny one stays above 0 (a perplexity needs it); the entropy keeps 4 decimals."""
        if self.p is None:
            return [self.text]
        item: list[object] = [self.text, _significant(self.p), [[alt.text, _significant(alt.p)] for alt in self.top]]
        if self.entropy is not None:
            item.append(round(self.entropy, 4))
            if self.entropy_bound:
                item.append(ENTROPY_BOUND)
        return item

    @classmethod
    def from_compact(cls, item: list[object]) -> Token:
        """Reads every stored form: `[text]`, `[text, p]`, `[text, p, top]` (rows saved before entropy), and the
        longer forms `compact` writes."""
        text = str(item[0])
        if len(item) == 1:
            return cls(text=text)
        top = item[2] if len(item) > 2 else []
        assert isinstance(top, list)
        entropy = item[3] if len(item) > 3 else None
        return cls(
            text=text,
            p=float(item[1]),  # type: ignore[arg-type]
            top=[Alternative(text=str(a[0]), p=float(a[1])) for a in top],
            entropy=None if entropy is None else float(entropy),  # type: ignore[arg-type]
            entropy_bound=len(item) > 4 and item[4] == ENTROPY_BOUND,
        )


ENTROPY_BOUND = "bound"  # the stored mark of an entropy that is only a lower bound
SMALLEST_P = 1e-12  # a stored probability rounded to 0 would make a surprisal (or a perplexity) infinite


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


EXACT_ROWS = 3  # rows per batched decode that keep every sample its seed's lone reply (simulator.batch)


class GroupLayout(BaseModel):
    """How a sample was decoded beside other samples of its document (`simulator.batch`), recorded so that a replay
    draws it again bit for bit: it was sample `position` of a group of `members` (consecutive in the call that drew
    them), and its decodes took `rows` rows. With `rows` at most EXACT_ROWS (`exact`) it is the reply its seed gives
    alone. With more (the fast layout) every decode of its group took exactly `rows` rows, padded, so its reply
    depends on its document, settings, seed and `rows`, not on which other samples were drawn with it (measured):
    drawn in any group with the same `rows`, alone included, it is the same; drawn the exact way it may differ in
    the last bits, and in time in its text."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    rows: int = Field(ge=1)
    members: int = Field(ge=1)
    position: int = Field(ge=0)

    @model_validator(mode="after")
    def _inside(self) -> GroupLayout:
        if self.position >= self.members:
            raise ValueError(f"position {self.position} is outside a group of {self.members}")
        return self

    @property
    def exact(self) -> bool:
        """Whether the sample is its seed's lone reply (no decode of 4 or more rows ever touched it)."""
        return self.rows <= EXACT_ROWS


MAX_GAMMA = 10.0  # past this a contrast is mostly B's negation, and float32 logits lose A's digits


class Contrast(BaseModel):
    """A contrast lane's second mask B and the weight γ of its distribution p_A^(1+γ) / p_B^γ (simulator.contrast).

    A lane stores B's `mask_snapshot` (the mask as it was, like its own), and each reply the exact `document` B
    read, so a replay reads the same two documents.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    mask: str = Field(min_length=1)
    gamma: float = Field(default=1.0, ge=0.0, le=MAX_GAMMA, allow_inf_nan=False)
    mask_snapshot: dict[str, Any] | None = None
    document: str | None = None


MAX_ALPHA = 100.0  # a hundred differences of means swamps the residual stream: past it nothing is left to read


class Steering(BaseModel):
    """A lane steered with a persona direction: `alpha` times the direction named `direction` added to the output
    of layers `first_layer`..`last_layer` (simulator.steering). Stored on the lane and with each reply it made;
    `vector_sha256` pins the very numbers (a newer direction of the same name does not change an old reply)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    direction: str = Field(min_length=1)
    vector_sha256: str = Field(min_length=1)
    alpha: float = Field(ge=-MAX_ALPHA, le=MAX_ALPHA, allow_inf_nan=False)
    first_layer: int = Field(ge=1)
    last_layer: int

    @model_validator(mode="after")
    def _ordered(self) -> Steering:
        if self.last_layer < self.first_layer:
            raise ValueError(f"layers {self.first_layer}-{self.last_layer}: the last layer comes before the first")
        return self

    @property
    def layers(self) -> str:
        """`L6`, or `L6–8` for a range."""
        if self.first_layer == self.last_layer:
            return f"L{self.first_layer}"
        return f"L{self.first_layer}–{self.last_layer}"

    @property
    def label(self) -> str:
        """How a lane label names it: `assistant-axis α −4 (L6)`."""
        return f"{self.direction} α {self.alpha:g} ({self.layers})".replace("α -", "α −")


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
    mean_entropy: the mean of the reply's token entropies (nats); `entropy_bound` when they are a server's lower
        bounds (`Token.entropy_bound`).
    max_surprisal: the largest −ln p among the reply's tokens (nats): its least likely token.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    in_character_p: float | None = None
    ended_by: EndedBy
    spoke_for_user: bool = False
    perplexity: float | None = None
    raw_perplexity: float | None = None
    mask_effect: float | None = None
    mask_effect_unavailable: str | None = None
    mean_entropy: float | None = None
    max_surprisal: float | None = None
    entropy_bound: bool | None = None

    def compact(self) -> dict[str, object]:
        """The fields that have a value, rounded for badges and JSON output."""
        return {
            name: round(value, 4) if isinstance(value, float) else value
            for name, value in self.model_dump().items()
            if value is not None
        }
