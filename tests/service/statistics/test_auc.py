"""The ROC AUC on cases whose answer is known, against the Mann–Whitney U from rank sums (scipy is not a
dependency: its formula, written out), and its bootstrap interval."""

from __future__ import annotations

import numpy as np
import pytest

from ui.service.statistics.auc import bootstrap_auc, roc_auc


def test_known_cases() -> None:
    assert roc_auc([3.0, 4.0], [1.0, 2.0]) == 1.0  # perfect separation
    assert roc_auc([1.0, 2.0], [3.0, 4.0]) == 0.0  # reversed
    assert roc_auc([1.0, 1.0], [1.0, 1.0]) == 0.5  # all tied
    assert roc_auc([2.0, 0.0], [1.0]) == 0.5  # one above, one below
    assert roc_auc([], [1.0]) is None


def _mann_whitney_u(positives: np.ndarray, negatives: np.ndarray) -> float:
    """scipy.stats.mannwhitneyu's statistic: the positives' rank sum (ties get their mean rank) less its minimum."""
    scores = np.concatenate([positives, negatives])
    order = scores.argsort(kind="stable")
    ranks = np.empty(scores.size)
    ranks[order] = np.arange(1, scores.size + 1)
    for value in np.unique(scores):
        ranks[scores == value] = ranks[scores == value].mean()
    return float(ranks[: positives.size].sum() - positives.size * (positives.size + 1) / 2)


def test_matches_the_mann_whitney_u() -> None:
    rng = np.random.default_rng(3)
    positives, negatives = rng.normal(0.5, 1, 17).round(1), rng.normal(0, 1, 23).round(1)  # rounded: some ties
    u = _mann_whitney_u(positives, negatives)
    assert roc_auc(list(positives), list(negatives)) == pytest.approx(u / (17 * 23))


def test_bootstrap_is_seeded_and_brackets_the_auc() -> None:
    rng = np.random.default_rng(5)
    positives, negatives = list(rng.normal(1, 1, 12)), list(rng.normal(0, 1, 12))
    first = bootstrap_auc(positives, negatives, seed=2)
    assert first is not None and first == bootstrap_auc(positives, negatives, seed=2)
    assert first.value == roc_auc(positives, negatives)
    assert 0 <= first.low <= first.value <= first.high <= 1
    assert first.n == 24
    perfect = bootstrap_auc([3.0, 4.0], [1.0, 2.0])
    assert perfect is not None and (perfect.low, perfect.high) == (1.0, 1.0)
    assert bootstrap_auc([1.0], []) is None
