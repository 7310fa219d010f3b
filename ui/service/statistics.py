"""The numbers an experiment reports: a rate with its Wilson 95% interval, a mean with a seeded bootstrap 95%
interval, and a verdict that comes from where the interval lies against an expectation's threshold."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

Verdict = Literal["holds", "fails", "undecided"]
Op = Literal[">=", ">", "<=", "<"]

Z95 = 1.959963984540054  # the normal distribution's 97.5% point (scipy.stats.norm.ppf(0.975))
BOOTSTRAP_RESAMPLES = 2000


@dataclass(frozen=True)
class Interval:
    """An estimate with its 95% interval; `n` is how many samples it rests on."""

    value: float
    low: float
    high: float
    n: int


def wilson(successes: int, n: int, z: float = Z95) -> Interval | None:
    """The rate successes/n with its Wilson score interval (better than the normal one near 0 and 1 and for
    small n); None when there are no samples."""
    if n <= 0:
        return None
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return Interval(p, max(0.0, centre - half), min(1.0, centre + half), n)


def bootstrap_mean(values: Sequence[float], seed: int = 0, resamples: int = BOOTSTRAP_RESAMPLES) -> Interval | None:
    """The mean with a percentile bootstrap 95% interval, from `resamples` resamples drawn with `seed` (so a
    report is the same every time it is computed); None without values."""
    data = np.asarray([v for v in values if v is not None and math.isfinite(v)], dtype=float)
    if data.size == 0:
        return None
    rng = np.random.default_rng(seed)
    means = data[rng.integers(0, data.size, size=(resamples, data.size))].mean(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    return Interval(float(data.mean()), float(low), float(high), int(data.size))


def verdict(interval: Interval | None, op: Op, threshold: float) -> Verdict:
    """`holds` when the whole interval satisfies `value OP threshold`, `fails` when none of it does, and
    `undecided` when it straddles the threshold (or there is nothing measured)."""
    if interval is None:
        return "undecided"
    low, high = interval.low, interval.high
    if op == ">=":
        return "holds" if low >= threshold else "fails" if high < threshold else "undecided"
    if op == ">":
        return "holds" if low > threshold else "fails" if high <= threshold else "undecided"
    if op == "<=":
        return "holds" if high <= threshold else "fails" if low > threshold else "undecided"
    return "holds" if high < threshold else "fails" if low >= threshold else "undecided"


def exact_verdict(value: float | None, op: Op, threshold: float) -> Verdict:
    """A verdict on a quantity measured without sampling error (a next_token probability)."""
    if value is None:
        return "undecided"
    return verdict(Interval(value, value, value, 1), op, threshold)
