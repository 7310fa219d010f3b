"""Persona directions for tests that need one saved without computing it from a suite run: random numbers of the
bundled base model's shape (gemma-3-270m: 18 layers of 640), saved under that model's sha256 so a lane on `base`
accepts it. Small (a norm of `norm` per layer), so a steered reply still reads as text."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from simulator.registry import Registry
from storage.db import make_engine
from ui.service.vectors.service import Vectors
from ui.service.vectors.views import DirectionView

GEMMA_LAYERS, GEMMA_WIDTH = 18, 640


def random_direction(seed: int = 0, norm: float = 1.0) -> np.ndarray:
    rows = np.random.default_rng(seed).standard_normal((GEMMA_LAYERS, GEMMA_WIDTH)).astype(np.float32)
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True) * norm).astype(np.float32)


def save_direction(
    vectors: Vectors,
    registry: Registry,
    name: str = "assistant-axis",
    *,
    seed: int = 0,
    norm: float = 1.0,
    best_layer: int = 6,
    model_sha256: str | None = None,
    **provenance: Any,
) -> DirectionView:
    """Save a random direction on `base` (or on the model with `model_sha256`), with a plausible provenance."""
    given: dict[str, Any] = {
        "suite": "assistant-axis",
        "run_id": 1,
        "toward": "assistant",
        "away": "rogue-ai",
        "positive": "assistant",
        "prompts": ["Who are you?", "What do you want?"],
        "held_out": ["Tell me a secret."],
        "n": {"assistant": 8, "rogue-ai": 8},
        "layers": [{"layer": layer, "auc": 0.5 + layer / 40, "low": 0.4, "high": 0.99} for layer in range(18)],
    }
    given.update(provenance)
    sha = model_sha256 or registry.model_sha256("base")
    return vectors.save(name, "base", sha, random_direction(seed, norm), best_layer, given)


def seed_directions(home: Path, registry: Registry) -> None:
    """A command's home database (`home/data`) with `assistant-axis` (best layer 6) and `other` (best layer 3)."""
    engine = make_engine(f"sqlite:///{home / 'data' / 'simulacra.db'}")
    try:
        save_direction(Vectors(engine, registry), registry)
        save_direction(Vectors(engine, registry), registry, "other", seed=1, best_layer=3)
    finally:
        engine.dispose()
