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
MAX_SAMPLES_TO_DECIDE = 10**9  # past this, "no number of samples" is the honest answer


@dataclass(frozen=True)
class Interval:
    """An estimate with its 95% interval; `n` is how many samples it rests on."""

    value: float
    low: float
    high: float
    n: int


def wilson(successes: float, n: int, z: float = Z95) -> Interval | None:
    """The rate successes/n with its Wilson score interval (better than the normal one near 0 and 1 and for
    small n); None when there are no samples. `successes` need not be whole: n samples at a rate of r are r * n."""
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


@dataclass(frozen=True)
class Decision:
    """A rate's verdict, and how firmly its samples give it. `close`: decided, but one more sample the other way
    would leave it undecided. `samples_needed` (when undecided or close): the fewest samples at the measured rate
    whose Wilson interval leaves the threshold out (when close, even with one more sample the other way); None
    when decided firmly, or when no number does (the rate is the threshold)."""

    verdict: Verdict
    close: bool
    samples_needed: int | None


def rate_decision(successes: int, n: int, op: Op, threshold: float) -> Decision:
    """The verdict on successes/n against `op threshold`, whether it is close, and how many samples would decide
    it."""
    measured = verdict(wilson(successes, n), op, threshold)
    if n <= 0:
        return Decision(measured, False, None)
    rate = successes / n
    if measured == "undecided":
        return Decision(measured, False, samples_to_decide(rate, op, threshold, spare=0, at_least=n + 1))
    if _decided(rate, n, op, threshold, spare=1):
        return Decision(measured, False, None)
    return Decision(measured, True, samples_to_decide(rate, op, threshold, spare=1, at_least=n + 1))


def samples_to_decide(rate: float, op: Op, threshold: float, *, spare: int = 0, at_least: int = 1) -> int | None:
    """The fewest samples, from `at_least`, at which the Wilson interval around `rate` leaves `threshold` out,
    even after `spare` more samples went the other way; None when no number does (the rate is the threshold)."""
    if rate == threshold:
        return None
    # The Wilson interval holds every t with (rate - t)^2 <= z^2 t (1 - t) / n (the score test it inverts), so
    # the threshold is outside it from n > z^2 t (1 - t) / (rate - t)^2 on: a start the search only refines.
    start = max(at_least, math.floor(Z95 * Z95 * threshold * (1 - threshold) / (rate - threshold) ** 2))
    low, high = at_least, start
    while not _decided(rate, high, op, threshold, spare):
        if high > MAX_SAMPLES_TO_DECIDE:
            return None
        low, high = high, high * 2
    while low < high:  # the first n that decides: those below it do not, those from it on do
        middle = (low + high) // 2
        low, high = (low, middle) if _decided(rate, middle, op, threshold, spare) else (middle + 1, high)
    return high


def _decided(rate: float, n: int, op: Op, threshold: float, spare: int) -> bool:
    """Whether n samples at `rate`, and then `spare` more on the threshold's side of it, give a verdict."""
    successes = rate * n + (spare if rate < threshold else 0)
    return verdict(wilson(successes, n + spare), op, threshold) != "undecided"
