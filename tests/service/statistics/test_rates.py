"""Wilson and bootstrap intervals against known values, and verdicts from where an interval lies."""

from __future__ import annotations

import pytest

from personas.suite_expectations import parse_expectation
from ui.service.experiments.aggregate import verdict_of
from ui.service.experiments.report_models import CellReport, LaneReport, RateFigure
from ui.service.statistics.rates import (
    Decision,
    Interval,
    bootstrap_mean,
    exact_verdict,
    rate_decision,
    samples_to_decide,
    verdict,
    wilson,
)


def test_wilson_known_values() -> None:
    # statsmodels.stats.proportion.proportion_confint(8, 10, method="wilson") = (0.4901625, 0.9433178)
    interval = wilson(8, 10)
    assert interval is not None
    assert interval.value == 0.8
    assert interval.low == pytest.approx(0.4901625, abs=1e-6)
    assert interval.high == pytest.approx(0.9433178, abs=1e-6)
    zero = wilson(0, 20)  # (0, 0.1611251): never below 0, and not [0, 0] as the normal interval would say
    assert zero is not None and zero.low == 0 and zero.high == pytest.approx(0.1611251, abs=1e-6)
    assert wilson(0, 0) is None


def test_bootstrap_is_seeded_and_covers_the_mean() -> None:
    values = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0]
    first, again = bootstrap_mean(values, seed=7), bootstrap_mean(values, seed=7)
    assert first == again
    assert first is not None
    assert first.value == 5.5
    # The percentile interval of the mean of 1..10: about mean ± 1.96 * sd/sqrt(n) = 5.5 ± 1.78
    assert 3.5 < first.low < 4.2 and 6.8 < first.high < 7.5
    constant = bootstrap_mean([2.0] * 5)
    assert constant is not None and constant.low == constant.high == 2.0
    assert bootstrap_mean([]) is None


@pytest.mark.parametrize(
    ("low", "high", "op", "threshold", "expected"),
    [
        (0.6, 0.9, ">=", 0.5, "holds"),
        (0.1, 0.4, ">=", 0.5, "fails"),
        (0.3, 0.7, ">=", 0.5, "undecided"),  # straddles the threshold
        (0.5, 0.7, ">", 0.5, "undecided"),
        (0.1, 0.4, "<=", 0.5, "holds"),
        (0.6, 0.9, "<", 0.5, "fails"),
        (0.4, 0.6, "<", 0.5, "undecided"),
    ],
)
def test_verdicts(low: float, high: float, op: str, threshold: float, expected: str) -> None:
    assert verdict(Interval((low + high) / 2, low, high, 10), op, threshold) == expected  # type: ignore[arg-type]


def test_a_straddling_measured_rate_is_undecided() -> None:
    assert verdict(wilson(2, 4), ">=", 0.5) == "undecided"
    assert verdict(wilson(20, 20), ">=", 0.5) == "holds"
    assert verdict(None, ">=", 0.5) == "undecided"
    assert exact_verdict(0.2, ">", 0.1) == "holds" and exact_verdict(0.05, ">", 0.1) == "fails"


def test_an_expectation_on_one_prompt_is_judged_on_that_cell_alone() -> None:
    def rate(successes: int, n: int) -> RateFigure:
        interval = wilson(successes, n)
        assert interval is not None
        return RateFigure(
            kind="regex", rate=interval.value, low=interval.low, high=interval.high, n=n, successes=successes
        )

    def cell(prompt_index: int, figure: RateFigure) -> CellReport:
        return CellReport(
            prompt_index=prompt_index, conversation_id=None, scorers={"q": figure}, likelihoods=None, samples=[]
        )

    lane = LaneReport(
        lane="base@raw",
        samples=40,
        scorers={"q": rate(20, 40)},  # pooled: 0.5, straddles 0.3 and 0.7
        cells=[cell(0, rate(20, 20)), cell(1, rate(0, 20))],
    )
    pooled = verdict_of(parse_expectation('lane "base@raw" rate("q") >= 0.3'), lane)
    first = verdict_of(parse_expectation('lane "base@raw" prompt 1 rate("q") >= 0.7'), lane)
    second = verdict_of(parse_expectation('lane "base@raw" prompt 2 rate("q") >= 0.3'), lane)
    assert (pooled.value, pooled.verdict) == (0.5, "holds")
    assert (first.value, first.prompt, first.verdict) == (1.0, 1, "holds")
    assert (second.value, second.verdict) == (0.0, "fails")


def test_samples_to_decide_is_where_the_wilson_interval_at_the_rate_leaves_the_threshold_out() -> None:
    # 7 of 20 (0.35) against 0.5, as capital-quiz's base@raw measured: 43 samples at 0.35 decide it, 42 do not.
    assert samples_to_decide(0.35, ">=", 0.5) == 43
    assert verdict(wilson(0.35 * 43, 43), ">=", 0.5) == "fails"
    assert verdict(wilson(0.35 * 42, 42), ">=", 0.5) == "undecided"
    assert samples_to_decide(0.75, ">", 0.5) == 16 and samples_to_decide(0.5, ">=", 0.5) is None


def test_a_verdict_says_how_firmly_its_samples_give_it() -> None:
    # 0 of 4 against >= 0.5 (issue 17): [0, 0.49] honestly fails, but one success more (1 of 5) would leave it
    # undecided; at a rate of 0, 7 samples fail it even with one success more (1 of 8), 6 do not (1 of 7).
    assert wilson(0, 4) == Interval(0.0, 0.0, pytest.approx(0.4899, abs=1e-4), 4)
    assert rate_decision(0, 4, ">=", 0.5) == Decision("fails", True, 7)
    assert verdict(wilson(1, 8), ">=", 0.5) == "fails" and verdict(wilson(1, 7), ">=", 0.5) == "undecided"
    assert rate_decision(3, 4, ">=", 0.5) == Decision("undecided", False, 16)
    assert rate_decision(2, 4, ">=", 0.5) == Decision("undecided", False, None)  # the rate is the threshold
    assert rate_decision(20, 20, ">=", 0.5) == Decision("holds", False, None)
