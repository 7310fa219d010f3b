# The leaderboard's statistics on synthetic votes (pure numpy, no database): Bradley–Terry recovers known
# strengths with honest intervals, kappa matches tables computed by hand, and a known position bias is found.

from __future__ import annotations

import math

import numpy as np
import pytest

from ui.service.statistics.ranking import (
    bootstrap_strengths,
    bradley_terry,
    cohen_kappa,
    fleiss_kappa,
)
from ui.service.statistics.rates import wilson

# Four lanes, each about 1.6 times as strong as the one before (log-strengths, mean 0).
TRUE = np.log(np.array([1.0, 1.6, 2.6, 4.2]))
TRUE = TRUE - TRUE.mean()


def simulated_votes(rng: np.random.Generator, strengths: np.ndarray, n_votes: int) -> tuple[np.ndarray, ...]:
    """Random pairs of distinct lanes; the first wins with the Bradley–Terry probability."""
    n = len(strengths)
    first = rng.integers(0, n, n_votes)
    second = (first + rng.integers(1, n, n_votes)) % n
    p_first = 1 / (1 + np.exp(-(strengths[first] - strengths[second])))
    return first, second, (rng.random(n_votes) < p_first).astype(float)


def test_bradley_terry_recovers_the_order_of_four_lanes_from_2000_votes() -> None:
    first, second, score = simulated_votes(np.random.default_rng(7), TRUE, 2000)
    strengths = bootstrap_strengths(first, second, score, 4, seed=7)
    assert list(np.argsort(strengths.estimate)) == [0, 1, 2, 3]
    assert np.all(strengths.low < strengths.estimate) and np.all(strengths.estimate < strengths.high)
    assert np.allclose(strengths.estimate, TRUE, atol=0.15)


def test_every_true_strength_is_inside_its_95_percent_interval_in_at_least_90_percent_of_50_repetitions() -> None:
    covered = np.zeros(4, dtype=int)
    all_four = 0
    for repetition in range(50):
        rng = np.random.default_rng(1000 + repetition)
        first, second, score = simulated_votes(rng, TRUE, 2000)
        strengths = bootstrap_strengths(first, second, score, 4, resamples=1000, seed=repetition)
        inside = (strengths.low <= TRUE) & (TRUE <= strengths.high)
        covered += inside
        all_four += bool(inside.all())
        assert list(np.argsort(strengths.estimate)) == [0, 1, 2, 3]
    print(f"covered per lane: {covered.tolist()} of 50; all four at once: {all_four} of 50")
    assert np.all(covered >= 45), covered


def test_ties_count_half_a_win_each_and_a_lane_that_won_everything_stays_finite() -> None:
    tied = bradley_terry([0, 1, 0, 1], [1, 0, 1, 0], [0.5, 0.5, 0.5, 0.5], 2)
    assert np.allclose(tied, 0.0)
    sweep = bradley_terry([0] * 20, [1] * 20, [1.0] * 20, 2)
    assert np.all(np.isfinite(sweep)) and sweep[0] > sweep[1]


def test_no_votes_give_equal_strengths_and_empty_intervals() -> None:
    strengths = bootstrap_strengths([], [], [], 3)
    assert np.allclose(strengths.estimate, 0.0) and np.allclose(strengths.low, strengths.high)


def test_cohen_kappa_matches_the_hand_computed_table() -> None:
    # 50 items, two raters: 20 both yes, 5 yes/no, 10 no/yes, 15 both no.
    # p_o = 35/50 = 0.7; p_e = 0.5 * 0.6 + 0.5 * 0.4 = 0.5; kappa = (0.7 - 0.5) / 0.5 = 0.4.
    a = ["yes"] * 20 + ["yes"] * 5 + ["no"] * 10 + ["no"] * 15
    b = ["yes"] * 20 + ["no"] * 5 + ["yes"] * 10 + ["no"] * 15
    assert cohen_kappa(a, b) == pytest.approx(0.4)
    # Three categories: a gives L 4, R 3, T 3; b gives L 5, R 3, T 2; they agree on 7 of 10.
    # p_o = 0.7; p_e = .4*.5 + .3*.3 + .3*.2 = 0.35; kappa = 0.35 / 0.65.
    a = list("LLLLRRRTTT")
    b = list("LLLRRRLTTL")
    assert cohen_kappa(a, b) == pytest.approx(0.35 / 0.65)
    assert cohen_kappa(list("LR"), list("LR")) == pytest.approx(1.0)
    assert math.isnan(cohen_kappa(list("LL"), list("LL")))


def test_fleiss_kappa_matches_the_worked_example() -> None:
    # Fleiss (1971) as worked on Wikipedia: 10 items, 14 raters, 5 categories; kappa = 0.210.
    table = [
        [0, 0, 0, 0, 14],
        [0, 2, 6, 4, 2],
        [0, 0, 3, 5, 6],
        [0, 3, 9, 2, 0],
        [2, 2, 8, 1, 1],
        [7, 7, 0, 0, 0],
        [3, 2, 6, 3, 0],
        [2, 5, 3, 2, 2],
        [6, 5, 2, 1, 0],
        [0, 2, 2, 3, 7],
    ]
    assert fleiss_kappa(table) == pytest.approx(0.20993, abs=1e-5)
    # Three raters, two items, full agreement on one and a 2-1 split on the other (by hand: P = (1 + 1/3) / 2,
    # shares 4/6 and 2/6, P_e = 5/9, kappa = (2/3 - 5/9) / (4/9) = 0.25).
    assert fleiss_kappa([[3, 0], [1, 2]]) == pytest.approx(0.25)
    assert math.isnan(fleiss_kappa([[1, 0]]))  # one rater only: nothing to agree on


def test_wilson_interval_matches_the_textbook_value() -> None:
    interval = wilson(8, 10)
    assert interval is not None and interval.value == 0.8
    assert interval.low == pytest.approx(0.4902, abs=1e-4) and interval.high == pytest.approx(0.9433, abs=1e-4)
    assert wilson(0, 0) is None


def test_a_known_position_bias_is_recovered_within_its_interval() -> None:
    # Equally strong replies, but the one shown on the left wins 60% of decisive votes.
    rng = np.random.default_rng(11)
    for bias in (0.5, 0.6, 0.7):
        left_wins = int((rng.random(1500) < bias).sum())
        interval = wilson(left_wins, 1500)
        assert interval is not None and interval.low <= bias <= interval.high, (bias, interval)
        assert (interval.low > 0.5) == (bias > 0.5)
