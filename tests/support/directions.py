"""Persona directions for tests that need one saved without computing it from a suite run: random numbers of the
bundled base model's shape (gemma-3-270m: 18 layers of 640), saved under that model's sha256 so a lane on `base`
accepts it. Small (a norm of `norm` per layer), so a steered reply still reads as text. Or one fitted in-process in
about a second, as the assistant-axis suite fits one from many replies: the base model's mean activations over one
mask's text or saved replies minus another's, of a real direction's scale."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from personas.catalog import load_mask
from personas.mask import HistoryTurn
from simulator.base import Simulator, drain
from simulator.registry import Registry
from simulator.scoring import document_for
from storage.db import make_engine
from ui.service.vectors.service import Vectors
from ui.service.vectors.views import DirectionView
from ui.service.workspace import Workspace

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


def mean_activations(workspace: Workspace, message_ids: Sequence[int]) -> np.ndarray:
    """(n_layer, n_embd): every layer's activation averaged over the tokens of the saved base replies, each read
    again after the document it recorded."""
    rows = []
    for message_id in message_ids:
        source, lane, _ = workspace.conversations.reply_source(message_id)
        simulator = workspace.registry.simulator(workspace.registry.resolve(lane.model))
        assert isinstance(simulator, Simulator) and isinstance(source.prompt, str)
        text = "".join(t.text for t in source.tokens)
        rows.append(drain(simulator.capture(source.prompt, text)).activations)
    return np.concatenate(rows).mean(axis=0)


def text_activations(workspace: Workspace, mask: str, question: str, text: str) -> np.ndarray:
    """(n_layer, n_embd): the base model's activations averaged over `text` read as `mask`'s character's reply to
    `question` (no reply is drawn: the text is given)."""
    simulator = workspace.registry.simulator(workspace.registry.resolve("base"))
    assert isinstance(simulator, Simulator)
    document = document_for(
        load_mask(mask, workspace.settings.resolved_masks_dir), [HistoryTurn(role="user", text=question)]
    )
    return drain(simulator.capture(document, text)).activations.mean(axis=0)


def save_text_direction(
    workspace: Workspace, name: str, question: str, toward: tuple[str, str], away: tuple[str, str]
) -> Any:
    """Store mean(toward's text) − mean(away's text), each `(mask, text)` read as that mask's reply to `question`:
    a direction of a real direction's scale in a second, with no turn run."""
    vectors = (
        text_activations(workspace, toward[0], question, toward[1])
        - text_activations(workspace, away[0], question, away[1])
    ).astype(np.float32)
    provenance = {"suite": "test", "toward": toward[0], "away": away[0], "n": {toward[0]: 1, away[0]: 1}}
    sha = workspace.registry.model_sha256("base")
    return Vectors.of(workspace).save(name, "base", sha, vectors, 6, provenance)


def save_fitted_direction(
    workspace: Workspace,
    name: str,
    toward: tuple[str, Sequence[int]],
    away: tuple[str, Sequence[int]],
    *,
    best_layer: int = 6,
    model_sha256: str | None = None,
) -> Any:
    """Store mean(toward's replies) − mean(away's replies) as direction `name` (on the bundled base model, or
    claiming to be from the model with `model_sha256`); returns its DirectionView."""
    vectors = (mean_activations(workspace, toward[1]) - mean_activations(workspace, away[1])).astype(np.float32)
    sha = model_sha256 or workspace.registry.model_sha256("base")
    provenance = {"suite": "test", "toward": toward[0], "away": away[0], "n": {toward[0]: 1, away[0]: 1}}
    return Vectors.of(workspace).save(name, "base", sha, vectors, best_layer, provenance)
