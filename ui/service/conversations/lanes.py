"""Lanes as the user names them (`MODEL[@MASK]` plus settings) and as a turn runs them. The three lane types:
`LaneSpec` (a lane asked for, not yet saved), `Lane` (the saved row) and `LaneConfig` (a lane running a turn)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from personas.mask import Mask
from personas.names import LANE_SPEC
from simulator.errors import LaneSpecError
from simulator.turn import LaneConfig
from simulator.values import MAX_SEED, SamplingSettings
from storage.tables import Lane

MAX_SAMPLES = 8


class LaneSpec(BaseModel):
    """A lane before it is saved: `MODEL[@MASK]` plus settings."""

    model_config = ConfigDict(extra="forbid")

    model: str
    mask: str | None = None
    system_prompt: str | None = None
    settings: SamplingSettings = SamplingSettings()
    label: str = ""

    @property
    def display_label(self) -> str:
        return self.label or (f"{self.model}@{self.mask}" if self.mask else self.model)

    @classmethod
    def of(cls, lane: Lane) -> LaneSpec:
        """A saved lane as a spec, to start a new conversation with the same lanes."""
        return cls(model=lane.model, mask=lane.mask_name, system_prompt=lane.system_prompt, settings=lane.settings)


def parse_lane_spec(spec: str, settings: SamplingSettings | None = None) -> LaneSpec:
    """Parse `MODEL[@MASK]`, e.g. `base@assistant`, `chat`, `openai/gpt-4o-mini@assistant`.

    Raises:
        LaneSpecError: the text is not of that form.
    """
    match = LANE_SPEC.match(spec.strip())
    if not match:
        raise LaneSpecError(
            f"cannot read lane '{spec}': write MODEL or MODEL@MASK, e.g. base@assistant, chat,"
            " or openai/gpt-4o-mini@assistant (mask names are lower-case)"
        )
    return LaneSpec(model=match["model"], mask=match["mask"], settings=settings or SamplingSettings())


def lane_config(lane: Lane) -> LaneConfig:
    """How a saved lane runs: its own mask snapshot and settings, and a llama.cpp context of its own."""
    mask = Mask.model_validate(lane.mask_snapshot) if lane.mask_snapshot else None
    return LaneConfig(
        label=lane.label,
        model=lane.model,
        mask=mask,
        system_prompt=lane.system_prompt,
        settings=lane.settings,
        key=f"lane-{lane.id}",
    )


def with_overrides(settings: SamplingSettings, overrides: Mapping[str, Any] | None) -> SamplingSettings:
    """The lane's settings with this turn's overrides (e.g. `ask --max-tokens`), checked like the lane's.

    Raises:
        LaneSpecError: an override is out of range or not a setting.
    """
    if not overrides:
        return settings
    try:
        return SamplingSettings.model_validate({**settings.model_dump(), **overrides})
    except ValidationError as e:
        problems = "; ".join(f"{'.'.join(map(str, p['loc']))}: {p['msg']}" for p in e.errors())
        raise LaneSpecError(f"invalid settings for this turn: {problems}") from e


def sample_configs(lane: Lane, samples: int, overrides: Mapping[str, Any] | None = None) -> list[LaneConfig]:
    """`samples` copies of the lane's config (with this turn's `overrides`); each copy has its own llama.cpp
    context key, so they run side by side, and its own seed: random, or the fixed seed plus the sample's number.

    Raises:
        LaneSpecError: samples is outside 1..MAX_SAMPLES, or an override is invalid.
    """
    if not 1 <= samples <= MAX_SAMPLES:
        raise LaneSpecError(f"draw between 1 and {MAX_SAMPLES} samples, not {samples}")
    config = lane_config(lane)
    config = replace(config, settings=with_overrides(config.settings, overrides))
    if samples == 1:
        return [config]
    seed = config.settings.seed
    return [
        replace(
            config,
            key=f"{config.key}-s{n}",
            settings=config.settings.model_copy(update={"seed": None if seed is None else (seed + n) % (MAX_SEED + 1)}),
        )
        for n in range(samples)
    ]
