"""The scorers of a suite that read activations (issue 21): `persona_direction` fits a direction between two masks
from the run's own replies, and `projection` measures each reply along a stored direction. Their checks against
the rest of the suite (the lanes that wear the two masks, the prompts held out, steered lanes waiting for the
direction) live here, so personas.suites stays a table of plain scorers."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from personas.names import LANE_SPEC, NAME_PATTERN


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PersonaDirectionScorer(_Strict):
    """`persona_direction`: per layer, the mean activation over the replies of the lane wearing `toward` minus that
    of the lane wearing `away` (over the reply's own tokens, fit prompts only), stored under the suite's name; the
    `held_out` share of prompts (evenly spaced by index) measures how well each layer's projection separates the
    two (ROC AUC), and the best layer is chosen on it."""

    name: str = Field(pattern=NAME_PATTERN)
    description: str = ""
    kind: Literal["persona_direction"]
    toward: str = Field(pattern=NAME_PATTERN)
    away: str = Field(pattern=NAME_PATTERN)
    held_out: float = Field(default=0.34, gt=0.0, lt=1.0)

    @model_validator(mode="after")
    def _two_masks(self) -> PersonaDirectionScorer:
        if self.toward == self.away:
            raise ValueError(f"scorer {self.name!r}: `toward` and `away` are the same mask")
        return self

    def split(self, n_prompts: int) -> tuple[list[int], list[int]]:
        """(fit, held out) prompt indices: prompt i is held out when it crosses the next multiple of 1/held_out
        (0.34: every third prompt, the 3rd, 6th, ...), so the choice is fixed by the suite alone."""
        held = [i for i in range(n_prompts) if int((i + 1) * self.held_out) > int(i * self.held_out)]
        return [i for i in range(n_prompts) if i not in held], held


class ProjectionScorer(_Strict):
    """`projection`: each reply's mean, over its own tokens, of the activation at `layer` (default: the direction's
    best layer) projected onto the unit vector of the stored `direction`, in the residual stream's own units."""

    name: str = Field(pattern=NAME_PATTERN)
    description: str = ""
    kind: Literal["projection"]
    direction: str = Field(pattern=NAME_PATTERN)
    layer: int | None = Field(default=None, ge=0)


def steered_by(spec: str) -> str | None:
    """The direction a lane spec steers with (`base@assistant^assistant-axis:-1` → `assistant-axis`), or None."""
    match = LANE_SPEC.match(spec)
    return match["direction"] if match else None


def lane_mask(spec: str) -> tuple[str, str | None]:
    """(model, mask) of a lane spec."""
    match = LANE_SPEC.match(spec)
    if match is None:
        return spec, None
    return match["model"], match["mask"]


def check_directions(name: str, lanes: Sequence[str], n_prompts: int, scorers: Sequence[BaseModel]) -> None:
    """A persona_direction scorer is alone in its suite (its direction takes the suite's name), its two masks are
    each worn by one unsteered lane of one model, and both the fit and the held-out prompts are non-empty.

    Raises:
        ValueError: the one thing wrong, named.
    """
    fitted = [s for s in scorers if isinstance(s, PersonaDirectionScorer)]
    if len(fitted) > 1:
        raise ValueError(
            "a suite has at most one persona_direction scorer: its direction is stored under the suite's name"
        )
    for scorer in fitted:
        plain = [lane_mask(spec) for spec in lanes if steered_by(spec) is None]
        models = set()
        for mask in (scorer.toward, scorer.away):
            wearing = [model for model, worn in plain if worn == mask]
            if len(wearing) != 1:
                raise ValueError(
                    f"scorer {scorer.name!r}: the mask {mask!r} must be worn by exactly one unsteered lane"
                    f" (e.g. base@{mask}); {len(wearing)} do"
                )
            models.add(wearing[0])
        if len(models) != 1:
            raise ValueError(
                f"scorer {scorer.name!r}: the lanes wearing {scorer.toward!r} and {scorer.away!r} must be one model"
            )
        fit, held = scorer.split(n_prompts)
        if not fit or not held:
            raise ValueError(
                f"scorer {scorer.name!r}: held_out = {scorer.held_out} of {n_prompts} prompt(s) leaves"
                f" {len(fit)} to fit and {len(held)} held out; each needs at least one (add prompts)"
            )
    for spec in lanes:
        steering = steered_by(spec)
        if steering == name and not fitted:
            raise ValueError(f"lane {spec!r} steers with {name!r}, this suite's own name, but no scorer fits it")
    for other in scorers:
        if isinstance(other, ProjectionScorer) and other.direction == name and not fitted:
            raise ValueError(
                f"scorer {other.name!r} projects on {name!r}, this suite's own name, but no scorer fits it"
            )
