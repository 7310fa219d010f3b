"""The drift meter: how far along a persona direction each token of a saved base-lane reply sits. The reply is read
again after the exact document it recorded (teacher forcing, `Simulator.capture`, on the local worker), and each
token's residual stream at one layer is projected onto the direction made a unit vector; a positive projection
leans towards the direction's `toward` mask (it is mean(toward) − mean(away)). A model is causal, so the re-read
activations are the ones the lane computed while it wrote the reply; a steered reply is read under the control
vector it was written with, so its projections include the push the lane was given.

In-process base lanes only: a chat model shares no activations, and a server sends none back. A direction means
something only in the model it was read from, so one computed on another model file (by sha256) is refused."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from pydantic import BaseModel

from simulator.activations import Captured
from simulator.base import Simulator
from simulator.scoring import token_texts
from simulator.steering import ControlVector
from ui.service.errors import ServiceError
from ui.service.vectors.service import Vectors

if TYPE_CHECKING:
    from ui.service.workspace import Workspace

HOW_TO_MAKE_ONE = (
    "run the assistant-axis suite (on the Experiments page, or: simulacra experiment run assistant-axis); it computes"
    " and stores the direction between the assistant and rogue-ai masks"
)


class DriftToken(BaseModel):
    """One token of the reply as the model read it again, and its activation's projection on the unit direction."""

    index: int
    text: str
    projection: float


class MaskMean(BaseModel):
    """The mean projection of one of the direction's two masks' replies, at the same layer, from its provenance."""

    mask: str
    mean: float


class Drift(BaseModel):
    """A reply's tokens along a direction at one layer, their mean, and (when the direction's provenance kept them)
    the means of the two masks the direction was fitted on, for scale."""

    message_id: int
    model: str
    direction: str
    vector_sha256: str
    layer: int
    best_layer: int
    toward: str | None = None
    away: str | None = None
    tokens: list[DriftToken]
    mean: float
    references: list[MaskMean] = []


@dataclass(frozen=True, eq=False)
class Direction:
    """What the meter needs of a stored direction: its numbers (n_layer, n_embd) and where they came from."""

    name: str
    vectors: np.ndarray
    model_sha256: str
    vector_sha256: str
    best_layer: int
    provenance: Mapping[str, Any]


def meter(workspace: Workspace, message_id: int, direction: str, layer: int | None = None) -> Drift:
    """Saved reply `message_id` along stored direction `direction` at `layer` (default: the direction's best).

    Raises:
        LaneSpecError: not a saved reply. ServiceError: no direction of that name, a chat or server lane's reply,
            no text, or a direction from another model.
        LayerOutOfRange: a layer the model does not have.
    """
    reply = _reply(workspace, message_id)  # a lane that cannot be metered is said before any direction is read
    vectors = Vectors.of(workspace)
    view = vectors.show(direction)
    found = Direction(
        name=view.name,
        vectors=vectors.array(direction),
        model_sha256=view.model_sha256,
        vector_sha256=view.vector_sha256,
        best_layer=view.best_layer,
        provenance=view.model_dump(mode="json", include={"toward", "away", "layers"}),
    )
    return _measure(reply, found, layer)


def measure(workspace: Workspace, message_id: int, direction: Direction, layer: int | None = None) -> Drift:
    """As `meter`, for a direction already in hand."""
    return _measure(_reply(workspace, message_id), direction, layer)


@dataclass(frozen=True)
class _Reply:
    workspace: Workspace
    message_id: int
    model: str
    document: str
    text: str
    simulator: Simulator
    steering: ControlVector | None  # what the lane added while it wrote the reply, added again when it is read


def _reply(workspace: Workspace, message_id: int) -> _Reply:
    """The saved reply, its exact document and the in-process base model that wrote it.

    Raises:
        LaneSpecError: not a saved reply. ServiceError: a chat model's reply, a model on a server, no text, or a
            steered reply whose direction is no longer stored.
    """
    source, lane, _ = workspace.conversations.reply_source(message_id)
    if lane.kind != "simulator" or not isinstance(source.prompt, str):
        raise ServiceError(
            f"message {message_id} is a chat model's reply: the drift meter reads a base model's activations,"
            " which a chat model does not share"
        )
    registry = workspace.registry
    simulator = registry.simulator(registry.resolve(lane.model))
    if not isinstance(simulator, Simulator):
        raise ServiceError(
            f"{lane.model} runs on a server, which sends no activations back: the drift meter reads in-process"
            " base lanes only"
        )
    text = "".join(t.text for t in source.tokens) or source.content
    if not text:
        raise ServiceError(f"message {message_id} has no text to read")
    # A steered reply is read under its own control vector: the activations are the ones its lane computed.
    steering = None if source.steering is None else Vectors.of(workspace).control_vector(source.steering)
    return _Reply(workspace, message_id, lane.model, source.prompt, text, simulator, steering)


def _measure(reply: _Reply, direction: Direction, layer: int | None) -> Drift:
    simulator = reply.simulator
    if direction.model_sha256 != simulator.sha256:
        raise ServiceError(
            f"direction {direction.name} was computed on another model (sha256 {direction.model_sha256[:12]}…),"
            f" not on {reply.model} (sha256 {simulator.sha256[:12]}…): a direction only means something in the"
            " model it was read from"
        )
    chosen = direction.best_layer if layer is None else layer
    simulator.check_layers([chosen])
    unit = _unit(direction, chosen)
    captured = _capture(reply, chosen)
    projections = captured.layer(chosen).astype(np.float64) @ unit
    pieces = token_texts([(piece, 0.0) for piece in captured.tokens], reply.text)
    tokens = [
        DriftToken(index=i, text=piece.text, projection=float(p))
        for i, (piece, p) in enumerate(zip(pieces, projections, strict=True))
    ]
    toward, away = _masks(direction.provenance)
    return Drift(
        message_id=reply.message_id,
        model=reply.model,
        direction=direction.name,
        vector_sha256=direction.vector_sha256,
        layer=chosen,
        best_layer=direction.best_layer,
        toward=toward,
        away=away,
        tokens=tokens,
        mean=float(projections.mean()) if tokens else 0.0,
        references=references(direction.provenance, chosen),
    )


def _unit(direction: Direction, layer: int) -> np.ndarray:
    row = np.asarray(direction.vectors[layer], dtype=np.float64)
    norm = float(np.linalg.norm(row))
    if not np.isfinite(norm) or norm == 0.0:
        raise ServiceError(f"direction {direction.name} is zero at layer {layer}: there is nothing to project on")
    return row / norm


def _capture(reply: _Reply, layer: int) -> Captured:
    """The reply's residual stream at `layer`, read on the local worker between the lanes' decodes."""
    simulator = reply.simulator

    def job() -> Iterator[Captured | None]:
        yield (yield from simulator.capture(reply.document, reply.text, [layer], key="drift", steering=reply.steering))

    items = list(simulator.run_job(job, reply.workspace.registry.worker))
    return next(item for item in reversed(items) if item is not None)


def _masks(provenance: Mapping[str, Any]) -> tuple[str | None, str | None]:
    toward, away = provenance.get("toward"), provenance.get("away")
    return (toward if isinstance(toward, str) else None), (away if isinstance(away, str) else None)


def references(provenance: Mapping[str, Any], layer: int) -> list[MaskMean]:
    """The two masks' mean projections at `layer`, when the provenance's per-layer entry kept them (under
    `means`: {mask: mean}); none otherwise."""
    for entry in provenance.get("layers") or []:
        if isinstance(entry, Mapping) and entry.get("layer") == layer and isinstance(entry.get("means"), Mapping):
            return [
                MaskMean(mask=str(mask), mean=float(mean))
                for mask, mean in entry["means"].items()
                if isinstance(mean, int | float) and np.isfinite(mean)
            ]
    return []
