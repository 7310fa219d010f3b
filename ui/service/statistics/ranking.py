"""Ranking and agreement from pairwise votes, on plain numpy arrays: Bradley–Terry strengths with bootstrap
intervals, and Cohen's and Fleiss' kappa (a rate's Wilson interval is rates.py's). Nothing here knows about the
database, so it is tested and benchmarked on synthetic votes alone."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

__all__ = ["Strengths", "bootstrap_strengths", "bradley_terry", "cohen_kappa", "fleiss_kappa"]

Floats = NDArray[np.float64]
Ints = NDArray[np.int64]

# A weak Gaussian prior on the log-strengths: it fixes the scale's origin (their mean is 0) and keeps a lane that
# won or lost every vote finite; next to the information of ten votes or more its pull is negligible.
RIDGE = 0.1


@dataclass(frozen=True)
class Strengths:
    """Bradley–Terry log-strengths (mean 0) with percentile bootstrap intervals, one entry per item."""

    estimate: Floats
    low: Floats
    high: Floats


def _sigmoid(x: Floats) -> Floats:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -40.0, 40.0)))


def _scatter(values: Floats, first: Ints, second: Ints, n_items: int) -> Floats:
    total = np.bincount(first, values, n_items) - np.bincount(second, values, n_items)
    return total.astype(np.float64)


def _hessian(first: Ints, second: Ints, weight: Floats, n_items: int, ridge: float) -> Floats:
    """The negative Hessian of the penalised log-likelihood: a weighted graph Laplacian plus ridge * I."""
    flat = np.concatenate(
        [first * n_items + first, second * n_items + second, first * n_items + second, second * n_items + first]
    )
    weights = np.concatenate([weight, weight, -weight, -weight])
    laplacian = np.bincount(flat, weights, n_items * n_items).reshape(n_items, n_items)
    return laplacian + ridge * np.eye(n_items)


def _log_likelihood(theta: Floats, first: Ints, second: Ints, score: Floats, ridge: float) -> float:
    d = theta[first] - theta[second]
    # log sigma(d) = -log(1 + e^-d), computed without overflow.
    log_win, log_loss = -np.logaddexp(0.0, -d), -np.logaddexp(0.0, d)
    return float(np.sum(score * log_win + (1.0 - score) * log_loss) - 0.5 * ridge * theta @ theta)


def bradley_terry(
    first: Sequence[int] | Ints,
    second: Sequence[int] | Ints,
    score: Sequence[float] | Floats,
    n_items: int,
    *,
    ridge: float = RIDGE,
) -> Floats:
    """The log-strengths theta (mean 0) maximising the penalised Bradley–Terry likelihood, where item `first[k]`
    beats `second[k]` with probability sigmoid(theta_first - theta_second) and `score[k]` is 1 (first won),
    0 (second won) or 0.5 (a tie, half a win each). Newton's method with step halving."""
    a, b = np.asarray(first, dtype=np.int64), np.asarray(second, dtype=np.int64)
    y = np.asarray(score, dtype=np.float64)
    theta = np.zeros(n_items)
    if n_items == 0:
        return theta
    current = _log_likelihood(theta, a, b, y, ridge)
    for _ in range(100):
        p = _sigmoid(theta[a] - theta[b])
        gradient = _scatter(y - p, a, b, n_items) - ridge * theta
        step = np.linalg.solve(_hessian(a, b, p * (1.0 - p), n_items, ridge), gradient)
        size = 1.0
        while size > 1e-6:
            candidate = theta + size * step
            value = _log_likelihood(candidate, a, b, y, ridge)
            if value >= current - 1e-12:
                break
            size /= 2
        theta, current = candidate, value
        if float(np.max(np.abs(size * step), initial=0.0)) < 1e-9:
            break
    return theta - theta.mean()


Runs = list[tuple[int, int, int]]


def _runs(index: Ints) -> Runs:
    """For votes sorted by `index`: (item, start, end) of each item's run of votes."""
    items, starts = np.unique(index, return_index=True)
    ends = np.append(starts[1:], len(index))
    return [(int(i), int(s), int(e)) for i, s, e in zip(items, starts, ends, strict=True)]


def _scatter_rows(rows: NDArray[np.float32], runs: Runs, out: NDArray[np.float32], sign: float) -> None:
    # Row blocks summed one by one: numpy's reduceat along the first axis is several times slower.
    for item, start, end in runs:
        if sign > 0:
            out[item] += rows[start:end].sum(axis=0)
        else:
            out[item] -= rows[start:end].sum(axis=0)


# P(X > k) for X ~ Poisson(1), k = 0..7: a uniform below the k-th of these draws the vote k + 1 times or more
# (P(X > 8) is 1e-6: such a draw counts 8 times).
_POISSON_TAIL = np.array([1 - sum(math.exp(-1) / math.factorial(j) for j in range(k + 1)) for k in range(8)])


def _resample_counts(rng: np.random.Generator, n_votes: int, resamples: int) -> NDArray[np.float32]:
    """votes x resamples: how often each vote is drawn in each resample, Poisson(1) (the Poisson bootstrap: a
    resample's size varies around n_votes, as a sample's would; asymptotically the same as drawing n_votes)."""
    uniform = rng.random((n_votes, resamples), dtype=np.float32)
    counts = (uniform < np.float32(_POISSON_TAIL[0])).astype(np.float32)
    counts += uniform < np.float32(_POISSON_TAIL[1])
    # Only 8% of draws are 3 or more: the rest of the thresholds on those alone.
    rows, columns = np.nonzero(uniform < np.float32(_POISSON_TAIL[2]))
    tail = uniform[rows, columns]
    extra = np.ones(len(tail), np.float32)
    for threshold in _POISSON_TAIL[3:]:
        extra += tail < np.float32(threshold)
    counts[rows, columns] += extra
    return counts


def bootstrap_strengths(
    first: Sequence[int] | Ints,
    second: Sequence[int] | Ints,
    score: Sequence[float] | Floats,
    n_items: int,
    *,
    resamples: int = 1000,
    seed: int = 0,
    level: float = 0.95,
    steps: int = 4,
    ridge: float = RIDGE,
) -> Strengths:
    """Bradley–Terry strengths with percentile bootstrap intervals over `resamples` resamplings of the votes.

    Each resample's estimate is found by `steps` Newton steps from the full-data estimate with the full data's
    Hessian, all resamples at once as one matrix (a separate Newton solve per resample would cost a linear solve
    each). A resample's Hessian differs from it by sampling noise, so each step shrinks the error by about that
    much: with 500 items and 10,000 votes, four steps leave a mean error of about 0.01 on intervals about 1 wide.
    """
    a, b = np.asarray(first, dtype=np.int64), np.asarray(second, dtype=np.int64)
    y = np.asarray(score, dtype=np.float64)
    theta = bradley_terry(a, b, y, n_items, ridge=ridge)
    if len(a) == 0 or resamples <= 0:
        return Strengths(theta, theta.copy(), theta.copy())
    order = np.argsort(a, kind="stable")  # sorted by first item: its sums need no gather
    a, b, y = a[order], b[order], y[order]
    p = _sigmoid(theta[a] - theta[b])
    inverse = np.linalg.inv(_hessian(a, b, p * (1.0 - p), n_items, ridge)).astype(np.float32)
    counts = _resample_counts(np.random.default_rng(seed), len(a), resamples)
    by_second = np.argsort(b, kind="stable")
    first_runs, second_runs = _runs(a), _runs(b[by_second])
    estimates = np.repeat(theta.astype(np.float32)[:, None], resamples, axis=1)
    y32 = y.astype(np.float32)[:, None]
    residual = counts * (y32 - p.astype(np.float32)[:, None])
    scratch = np.empty_like(residual)  # votes x resamples arrays are reused, never reallocated
    for step in range(steps):
        if step:  # the residuals at the current estimates: y - 1 / (1 + e^(theta_second - theta_first))
            np.take(estimates, b, axis=0, out=residual)
            np.take(estimates, a, axis=0, out=scratch)
            residual -= scratch
            with np.errstate(over="ignore"):  # e^x overflows to inf above 88, giving the right 0
                np.exp(residual, out=residual)
            residual += 1.0
            np.reciprocal(residual, out=residual)
            np.subtract(y32, residual, out=residual)
            residual *= counts
        gradient = -ridge * estimates
        _scatter_rows(residual, first_runs, gradient, 1.0)
        np.take(residual, by_second, axis=0, out=scratch)
        _scatter_rows(scratch, second_runs, gradient, -1.0)
        estimates += np.clip(inverse @ gradient, -5.0, 5.0)
    estimates -= estimates.mean(axis=0, keepdims=True)
    tail = (1.0 - level) / 2
    low, high = np.quantile(estimates, [tail, 1.0 - tail], axis=1)
    return Strengths(theta, low.astype(np.float64), high.astype(np.float64))


def cohen_kappa(first: Sequence[str], second: Sequence[str]) -> float:
    """Cohen's kappa of two raters' labels on the same items (in the same order); nan when chance agreement is
    certain (both always gave one and the same label) or there are no items."""
    if len(first) != len(second):
        raise ValueError("both raters must label the same items")
    if not first:
        return math.nan
    categories = sorted(set(first) | set(second))
    n = len(first)
    observed = sum(x == y for x, y in zip(first, second, strict=True)) / n
    expected = sum((first.count(c) / n) * (second.count(c) / n) for c in categories)
    if expected >= 1.0:
        return math.nan
    return (observed - expected) / (1.0 - expected)


def fleiss_kappa(counts: Sequence[Sequence[int]] | NDArray[np.int64]) -> float:
    """Fleiss' kappa from an items x categories table of how many raters chose each category for each item.

    Items may have different numbers of raters (at least two each count); with the same number everywhere this
    is Fleiss' original statistic. nan without such items or when chance agreement is certain.
    """
    table = np.asarray(counts, dtype=np.float64)
    if table.ndim != 2:
        raise ValueError("counts must be an items x categories table")
    raters = table.sum(axis=1)
    table, raters = table[raters >= 2], raters[raters >= 2]
    if len(table) == 0:
        return math.nan
    agreement = ((table * (table - 1)).sum(axis=1) / (raters * (raters - 1))).mean()
    shares = table.sum(axis=0) / raters.sum()
    expected = float((shares**2).sum())
    if expected >= 1.0:
        return math.nan
    return float((agreement - expected) / (1.0 - expected))
