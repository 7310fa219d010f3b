"""How well one number separates two groups: the ROC AUC (the probability that a positive scores above a
negative, ties counting half: the Mann–Whitney U over the product of the group sizes) with a seeded bootstrap 95%
interval. A persona direction reports it per layer for its held-out replies' projections."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from ui.service.statistics.rates import BOOTSTRAP_RESAMPLES, Interval


def _wins(positives: np.ndarray, negatives: np.ndarray) -> np.ndarray:
    """(positives, negatives): 1 where the positive scores higher, ½ on a tie, 0 below."""
    difference = positives[:, None] - negatives[None, :]
    return (difference > 0).astype(float) + 0.5 * (difference == 0)


def roc_auc(positives: Sequence[float], negatives: Sequence[float]) -> float | None:
    """P(a positive's score > a negative's), ties counting ½; None when either group is empty."""
    pos, neg = _finite(positives), _finite(negatives)
    if pos.size == 0 or neg.size == 0:
        return None
    return float(_wins(pos, neg).mean())


def bootstrap_auc(
    positives: Sequence[float], negatives: Sequence[float], seed: int = 0, resamples: int = BOOTSTRAP_RESAMPLES
) -> Interval | None:
    """The AUC with a percentile bootstrap 95% interval: each resample draws the positives and the negatives with
    replacement, each group keeping its size (so every resample has both), seeded so a report repeats; `n` is
    the number of scores. None when either group is empty."""
    pos, neg = _finite(positives), _finite(negatives)
    if pos.size == 0 or neg.size == 0:
        return None
    wins = _wins(pos, neg)
    rng = np.random.default_rng(seed)
    # A resample is how many times it drew each score; its AUC is the count-weighted mean of the wins.
    pos_counts = rng.multinomial(pos.size, np.full(pos.size, 1 / pos.size), size=resamples)
    neg_counts = rng.multinomial(neg.size, np.full(neg.size, 1 / neg.size), size=resamples)
    aucs = np.einsum("bi,ij,bj->b", pos_counts, wins, neg_counts) / (pos.size * neg.size)
    low, high = np.percentile(aucs, [2.5, 97.5])
    return Interval(float(wins.mean()), float(low), float(high), int(pos.size + neg.size))


def _finite(values: Sequence[float]) -> np.ndarray:
    return np.asarray([v for v in values if v is not None and math.isfinite(v)], dtype=float)
