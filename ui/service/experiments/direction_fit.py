"""A persona direction from replies' activations, on plain arrays: per layer, the mean over the fit prompts'
`toward` replies minus that of the `away` replies (each reply first averaged over its own tokens), and how well each
layer's projection separates the held-out replies (ROC AUC, toward positive, with a bootstrap interval). The best
layer is chosen among the steerable ones (1 and up: llama.cpp adds a control vector to layer il's output for il ≥ 1)
on the AUC, then the interval's lower bound, then the lower layer."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ui.service.statistics.auc import bootstrap_auc

FIRST_STEERABLE = 1


@dataclass(frozen=True)
class Reading:
    """One reply: the prompt it answered (index from 0) and its mean activation per layer, (n_layer, n_embd)."""

    prompt_index: int
    means: np.ndarray


@dataclass(frozen=True)
class LayerAuc:
    """One layer's held-out AUC and interval, and each side's mean projection there (the drift meter's scale)."""

    layer: int
    auc: float
    low: float
    high: float
    toward_mean: float
    away_mean: float


@dataclass(frozen=True)
class Fit:
    vectors: np.ndarray  # (n_layer, n_embd) float32: toward − away
    layers: list[LayerAuc]
    best_layer: int
    fit_n: dict[str, int]  # "toward"/"away" -> replies the means were taken over
    held_n: dict[str, int]

    @property
    def best(self) -> LayerAuc:
        return next(layer for layer in self.layers if layer.layer == self.best_layer)


class FitError(ValueError):
    """Too few replies to fit a direction or to measure it."""


def _mean(readings: Sequence[Reading], prompts: set[int]) -> tuple[np.ndarray | None, int]:
    chosen = [r.means for r in readings if r.prompt_index in prompts]
    return (np.asarray(np.stack(chosen).mean(axis=0, dtype=np.float64)) if chosen else None), len(chosen)


def projections(means: np.ndarray, vectors: np.ndarray) -> np.ndarray:
    """(n_layer,): a reply's mean activation at each layer projected onto that layer's unit direction (0 where the
    direction is zero)."""
    norms = np.linalg.norm(vectors, axis=-1)
    safe = np.where(norms > 0, norms, 1.0)
    return np.asarray(np.einsum("le,le->l", means, vectors) / safe * (norms > 0))


def fit_direction(
    toward: Sequence[Reading], away: Sequence[Reading], fit: Sequence[int], held: Sequence[int], seed: int
) -> Fit:
    """The direction from the fit prompts' replies, measured on the held-out prompts' replies.

    Raises:
        FitError: a side has no reply on the fit prompts or none held out.
    """
    fit_set, held_set = set(fit), set(held)
    toward_mean, toward_fit = _mean(toward, fit_set)
    away_mean, away_fit = _mean(away, fit_set)
    if toward_mean is None or away_mean is None:
        raise FitError("a mask has no reply on the fit prompts (empty replies are left out): draw more samples")
    vectors = (toward_mean - away_mean).astype(np.float32)
    positives = [projections(r.means, vectors) for r in toward if r.prompt_index in held_set]
    negatives = [projections(r.means, vectors) for r in away if r.prompt_index in held_set]
    if not positives or not negatives:
        raise FitError("a mask has no reply on the held-out prompts (empty replies are left out): draw more samples")
    layers = []
    for layer in range(vectors.shape[0]):
        ups, downs = [p[layer] for p in positives], [n[layer] for n in negatives]
        interval = bootstrap_auc(ups, downs, seed=seed)
        assert interval is not None
        rounded = (round(interval.value, 6), round(interval.low, 6), round(interval.high, 6))
        layers.append(LayerAuc(layer, *rounded, round(float(np.mean(ups)), 6), round(float(np.mean(downs)), 6)))
    steerable = [layer for layer in layers if layer.layer >= FIRST_STEERABLE] or layers
    best = max(steerable, key=lambda layer: (layer.auc, layer.low, -layer.layer))
    return Fit(
        vectors,
        layers,
        best.layer,
        {"toward": toward_fit, "away": away_fit},
        {"toward": len(positives), "away": len(negatives)},
    )


def separated(auc: float, low: float) -> bool:
    """Whether the held-out replies are told apart better than chance: the AUC above 0.5 and its interval too."""
    return auc > 0.5 and low > 0.5
