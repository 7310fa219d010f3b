"""What a page or command reads about a persona direction (`DirectionView`, with its per-layer AUC table), and a
steering as a user types it (`SteerRequest`, parsed from `NAME:ALPHA[:FIRST-LAST]`), before `Vectors.resolve` turns
it into the `simulator.values.Steering` a lane stores."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from personas.names import STEER
from simulator.errors import LaneSpecError
from simulator.values import MAX_ALPHA

__all__ = ["DirectionView", "LayerAUC", "SteerRequest", "parse_steer"]

STEER_FORM = "NAME:ALPHA[:FIRST-LAST], e.g. assistant-axis:-4 or assistant-axis:-4:6-8"


class LayerAUC(BaseModel):
    """How well one layer's projection on the direction separates the two masks' held-out replies: ROC AUC and
    its bootstrap interval (None where it was not measured), and each mask's mean projection there (by mask; the
    drift meter draws them for scale)."""

    model_config = ConfigDict(frozen=True)

    layer: int
    auc: float | None = None
    low: float | None = None
    high: float | None = None
    means: dict[str, float] = {}


class DirectionView(BaseModel):
    """A stored direction and where it came from. `toward` − `away` is its sign: a positive α pushes toward
    `toward`. `layers` is the per-layer AUC table of the run that computed it; `best_layer` the one steered by
    default."""

    model_config = ConfigDict(frozen=True)

    id: int
    name: str
    model_name: str
    model_sha256: str
    vector_sha256: str
    n_layer: int
    n_embd: int
    best_layer: int
    layers: list[LayerAUC] = []
    toward: str | None = None
    away: str | None = None
    positive: str | None = None
    prompts: list[str] = []
    held_out: list[str] = []
    n: dict[str, int] = {}
    suite: str | None = None
    run_id: int | None = None
    created_at: datetime

    @property
    def steerable(self) -> tuple[int, int]:
        """The layers a control vector can steer: llama.cpp's start at layer 1."""
        return 1, self.n_layer - 1

    @property
    def best(self) -> LayerAUC | None:
        """The AUC row of the best layer, when the run measured it."""
        return next((row for row in self.layers if row.layer == self.best_layer), None)

    @classmethod
    def of(cls, row: Any) -> DirectionView:
        """A `storage.tables.Direction` row as a view; its provenance keys that are missing stay empty."""
        given = dict(row.provenance or {})
        return cls(
            id=row.id,
            name=row.name,
            model_name=row.model_name,
            model_sha256=row.model_sha256,
            vector_sha256=row.vector_sha256,
            n_layer=row.n_layer,
            n_embd=row.n_embd,
            best_layer=row.best_layer,
            layers=[LayerAUC.model_validate(item) for item in given.get("layers") or []],
            toward=given.get("toward"),
            away=given.get("away"),
            positive=given.get("positive"),
            prompts=list(given.get("prompts") or []),
            held_out=list(given.get("held_out") or []),
            n={str(k): int(v) for k, v in (given.get("n") or {}).items()},
            suite=given.get("suite"),
            run_id=given.get("run_id"),
            created_at=row.created_at,
        )


class SteerRequest(BaseModel):
    """A steering as typed, not yet looked up: a direction's name, α, and layers (None: the direction's best)."""

    model_config = ConfigDict(frozen=True)

    direction: str
    alpha: float
    layers: tuple[int, int] | None = None

    @property
    def text(self) -> str:
        layers = "" if self.layers is None else f":{self.layers[0]}-{self.layers[1]}"
        return f"{self.direction}:{self.alpha:g}{layers}"


def parse_steer(text: str) -> SteerRequest:
    """`NAME:ALPHA[:FIRST-LAST]` (or `:LAYER` for one layer), e.g. `assistant-axis:-4:6-8`.

    Raises:
        LaneSpecError: the text is not of that form, or α is not a finite number within ±MAX_ALPHA.
    """
    match = STEER.match(text.strip())
    if not match:
        raise LaneSpecError(f"cannot read the steering {text.strip()!r}: write {STEER_FORM}")
    try:
        alpha = float(match["alpha"])
    except ValueError:
        alpha = math.nan
    if not math.isfinite(alpha) or abs(alpha) > MAX_ALPHA:
        raise LaneSpecError(
            f"α (the steering's strength, after the direction's name) must be a number from {-MAX_ALPHA:g} to"
            f" {MAX_ALPHA:g}, not {match['alpha']!r}"
        )
    layers = None
    if match["first"] is not None:
        first = int(match["first"])
        layers = (first, int(match["last"]) if match["last"] is not None else first)
    return SteerRequest(direction=match["direction"], alpha=alpha, layers=layers)
