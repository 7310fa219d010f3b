"""Lanes as the user names them (`MODEL[@MASK]` plus settings) and as a turn runs them. The three lane types:
`LaneSpec` (a lane asked for, not yet saved), `Lane` (the saved row) and `LaneConfig` (a lane running a turn)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError
from sqlmodel import Session

from personas.mask import HistoryTurn, Mask
from personas.names import LANE_SPEC
from simulator.contrast import ContrastConfig
from simulator.errors import LaneSpecError
from simulator.registry import ModelEntry
from simulator.steering import ControlVector
from simulator.turn import LaneConfig
from simulator.values import MAX_GAMMA, MAX_SEED, Contrast, SamplingSettings, Steering, Token
from storage import repo
from storage.tables import Lane
from ui.service.read_models import SavedMessage, Turn
from ui.service.vectors.service import Vectors
from ui.service.vectors.views import SteerRequest, parse_steer

MAX_SAMPLES = 8


class LaneSpec(BaseModel):
    """A lane before it is saved: `MODEL[@MASK]` plus settings, or a contrast lane `MODEL@MASK~OTHER[:GAMMA]`."""

    model_config = ConfigDict(extra="forbid")

    model: str
    mask: str | None = None
    system_prompt: str | None = None
    settings: SamplingSettings = SamplingSettings()
    label: str = ""
    contrast: Contrast | None = None  # the mask and γ this lane's mask is contrasted with (no snapshot yet)
    # A steered lane: the steering as typed (`^NAME:ALPHA[:FIRST-LAST]`, looked up when the lane is saved), or one
    # already resolved (`Vectors.resolve`); `steering` wins when both are given.
    steer: SteerRequest | None = None
    steering: Steering | None = None

    @property
    def display_label(self) -> str:
        if self.label:
            return self.label
        if self.contrast is not None:
            return f"{self.model}@{self.mask} − {self.contrast.mask} (γ {self.contrast.gamma:g})"
        plain = f"{self.model}@{self.mask}" if self.mask else self.model
        if self.steering is not None:
            return f"{plain} ^ {self.steering.label}"
        if self.steer is not None:
            return f"{plain} ^ {self.steer.text}"
        return plain

    @classmethod
    def of(cls, lane: Lane) -> LaneSpec:
        """A saved lane as a spec, to start a new conversation with the same lanes."""
        contrast = lane.contrasted
        return cls(
            model=lane.model,
            mask=lane.mask_name,
            system_prompt=lane.system_prompt,
            settings=lane.settings,
            contrast=None if contrast is None else Contrast(mask=contrast.mask, gamma=contrast.gamma),
            steering=lane.steered,
        )


def history_for_lane(turns: list[Turn[SavedMessage]], lane_id: int | None) -> list[HistoryTurn]:
    """What a lane has seen on this path: every user message and that lane's non-empty replies."""
    history: list[HistoryTurn] = []
    for turn in turns:
        history.append(HistoryTurn(role="user", text=turn.user.content))
        reply = turn.replies.get(lane_id) if lane_id is not None else None
        if reply is not None and reply.content.strip():
            history.append(HistoryTurn(role="character", text=reply.content.strip()))
    return history


def parse_lane_spec(spec: str, settings: SamplingSettings | None = None) -> LaneSpec:
    """Parse `MODEL[@MASK]`, e.g. `base@assistant`, `chat`, `openai/gpt-4o-mini@assistant`, or a contrast lane
    `MODEL@MASK~OTHER[:GAMMA]`, e.g. `base@assistant~raw:1.5` (γ 1 when not given), or a steered lane
    `MODEL@MASK^DIRECTION:ALPHA[:FIRST-LAST]`, e.g. `base@assistant^assistant-axis:-4` (its direction is looked
    up when the lane is saved).

    Raises:
        LaneSpecError: the text is not of that form, γ is not a number from 0 to MAX_GAMMA, or α not one within
            ±MAX_ALPHA.
    """
    match = LANE_SPEC.match(spec.strip())
    if not match:
        raise LaneSpecError(
            f"cannot read lane '{spec}': write MODEL or MODEL@MASK, e.g. base@assistant, chat,"
            " or openai/gpt-4o-mini@assistant (mask names are lower-case); a contrast lane is"
            " MODEL@MASK~OTHER[:GAMMA], e.g. base@assistant~raw:1.5, and a steered lane MODEL@MASK^DIRECTION:ALPHA,"
            " e.g. base@assistant^assistant-axis:-4"
        )
    contrast = None
    if match["contrast"]:
        contrast = contrast_of(match["contrast"], match["gamma"] if match["gamma"] is not None else "1")
    steer = None
    if match["direction"]:
        if match["steer"] is None:
            raise LaneSpecError(
                f"lane '{spec.strip()}' names a direction but no α: write MODEL@MASK^DIRECTION:ALPHA[:FIRST-LAST],"
                " e.g. base@assistant^assistant-axis:-4"
            )
        steer = parse_steer(f"{match['direction']}:{match['steer']}")
    return LaneSpec(
        model=match["model"],
        mask=match["mask"],
        settings=settings or SamplingSettings(),
        contrast=contrast,
        steer=steer,
    )


def contrast_of(mask: str, gamma: str | float) -> Contrast:
    """A contrast with mask `mask` and weight `gamma` as typed.

    Raises:
        LaneSpecError: γ is not a number from 0 to MAX_GAMMA.
    """
    try:
        return Contrast(mask=mask, gamma=float(gamma))
    except (ValueError, ValidationError):
        raise LaneSpecError(
            f"γ (the contrast's weight, after ':') must be a number from 0 to {MAX_GAMMA:g}, not {str(gamma)!r}"
        ) from None


def lane_config(lane: Lane, vectors: Vectors | None = None, *, steered: bool = True) -> LaneConfig:
    """How a saved lane runs: its own mask snapshot and settings, and a llama.cpp context of its own; a steered
    lane's control vector comes from `vectors` (the directions in the lane's database), unless `steered` is off.

    Raises:
        LaneSpecError: a contrast lane's second mask was saved without its text (an imported file), or a steered
            lane is run without `vectors`.
        ServiceError: a steered lane's direction is not in this database (an imported conversation).
    """
    mask = Mask.model_validate(lane.mask_snapshot) if lane.mask_snapshot else None
    return LaneConfig(
        label=lane.label,
        model=lane.model,
        mask=mask,
        system_prompt=lane.system_prompt,
        settings=lane.settings,
        key=f"lane-{lane.id}",
        contrast=_contrast_config(lane),
        steering=_control_vector(lane.steered, vectors) if steered else None,
    )


def _control_vector(steering: Steering | None, vectors: Vectors | None) -> ControlVector | None:
    if steering is None:
        return None
    if vectors is None:  # a caller's mistake, not the user's: said plainly all the same
        raise LaneSpecError(f"a lane steered with {steering.label} runs only where its directions are read")
    return vectors.control_vector(steering)


def _contrast_config(lane: Lane) -> ContrastConfig | None:
    contrast = lane.contrasted
    if contrast is None:
        return None
    if not contrast.mask_snapshot:
        raise LaneSpecError(
            f"lane {lane.label!r} has no saved text for its contrast mask {contrast.mask!r}: start a new"
            " conversation with that lane"
        )
    return ContrastConfig(mask=Mask.model_validate(contrast.mask_snapshot), gamma=contrast.gamma)


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


def sample_configs(
    lane: Lane, samples: int, overrides: Mapping[str, Any] | None = None, vectors: Vectors | None = None
) -> list[LaneConfig]:
    """`samples` copies of the lane's config (with this turn's `overrides`, and its steering from `vectors`); each
    copy has its own llama.cpp context key, so they run side by side, and its own seed: random, or the fixed seed
    plus the sample's number.

    Raises:
        LaneSpecError: samples is outside 1..MAX_SAMPLES, or an override is invalid.
    """
    if not 1 <= samples <= MAX_SAMPLES:
        raise LaneSpecError(f"draw between 1 and {MAX_SAMPLES} samples, not {samples}")
    config = lane_config(lane, vectors)
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


def checked_contrast(spec: LaneSpec, entry: ModelEntry, load: Callable[[str], Mask | None]) -> Contrast | None:
    """A contrast lane's contrast, with its second mask's snapshot; None for a plain lane.

    Raises:
        LaneSpecError: the lane's model gives no logits to mix (a chat model, or a base model on a server).
        MaskError: there is no such mask.
    """
    if spec.contrast is None:
        return None
    if entry.kind != "simulator" or entry.path is None:
        where = "a chat model" if entry.kind == "chat" else "a base model on a server"
        raise LaneSpecError(
            f"lane {spec.display_label!r}: a contrast lane mixes two masks' logits, which only an in-process base"
            f" model gives, and {spec.model} is {where}; use a local base model,"
            f" e.g. base@{spec.mask}~{spec.contrast.mask}"
        )
    mask = load(spec.contrast.mask)
    return spec.contrast.model_copy(update={"mask_snapshot": _snapshot(mask)})


def checked_steering(spec: LaneSpec, entry: ModelEntry, vectors: Vectors) -> Steering | None:
    """A steered lane's steering, looked up and checked against the lane's model; None for a plain lane.

    Raises:
        ServiceError: no direction has the name given.
        LaneSpecError, SteeringRefused: the layers are out of range, the lane is a chat or server lane or a
            contrast lane, or the direction was computed on another model.
    """
    if spec.steering is None and spec.steer is None:
        return None
    if spec.contrast is not None:
        raise LaneSpecError(f"lane {spec.display_label!r}: a lane is either contrasted (~) or steered (^), not both")
    if spec.steering is not None:
        vectors.check(spec.steering, entry)
        return spec.steering
    assert spec.steer is not None
    return vectors.resolve_request(spec.steer, model=entry)


def _snapshot(mask: Mask | None) -> dict[str, Any] | None:
    # The card image can be megabytes and plays no part in what the model reads.
    return mask.model_dump(mode="json", exclude={"card_image"}) if mask else None


def save_lane(
    session: Session,
    conversation_id: int,
    position: int,
    spec: LaneSpec,
    kind: str,
    mask: Mask | None,
    contrast: Contrast | None = None,
    steering: Steering | None = None,
) -> Lane:
    return repo.add_lane(
        session=session,
        conversation_id=conversation_id,
        position=position,
        label=spec.model_copy(update={"steering": steering}).display_label,
        kind=kind,  # type: ignore[arg-type]
        model=spec.model,
        mask_name=spec.mask,
        mask_snapshot=_snapshot(mask),
        system_prompt=spec.system_prompt,
        settings=spec.settings,
        contrast=contrast,
        steering=steering,
    )


def replay_config(
    lane: Lane, source: SavedMessage, vectors: Vectors, *, prefix: tuple[Token, ...], settings: SamplingSettings
) -> LaneConfig:
    """A lane's config to run a saved base reply again (replay, branch) from its exact document, with `prefix` and
    `settings`: a contrast reply's own γ and B's document, and the steering the reply recorded (the very vector,
    by its sha256, at its α and layers; none for a reply made unsteered).

    Raises:
        LaneSpecError: a contrast lane's second mask was saved without its text (an imported file).
        ServiceError: the reply's direction is not in this database (an imported conversation).
    """
    assert isinstance(source.prompt, str)
    config = replace(
        lane_config(lane, steered=False),
        document=source.prompt,
        prefix=prefix,
        settings=settings,
        steering=None if source.steering is None else vectors.control_vector(source.steering),
    )
    recorded = source.contrast
    if config.contrast is None or recorded is None:
        return config
    return replace(config, contrast=replace(config.contrast, gamma=recorded.gamma, document=recorded.document))
