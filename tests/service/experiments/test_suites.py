"""Suite files: the built-ins load, and each kind of bad input is one SuiteError naming the problem."""

from __future__ import annotations

from pathlib import Path

import pytest

from personas.suites import SuiteError, list_suites, load_suite, parse_suite_toml

GOOD = """
name = "t"
lanes = ["base@raw"]
samples = 3
{extra}
[[prompts]]
text = "Hi"

[[scorers]]
name = "q"
kind = "{kind}"
{scorer}
"""


def suite_text(kind: str = "regex", scorer: str = "pattern = 'a'", extra: str = "") -> str:
    return GOOD.format(kind=kind, scorer=scorer, extra=extra)


def test_builtins_load_with_their_claims() -> None:
    suites, problems = list_suites()
    assert problems == []
    names = {s.name for s in suites}
    assert {"capital-quiz", "next-token", "mask-decides", "self-report", "mask-sweep"} <= names
    for suite in suites:
        assert suite.claim
    quiz = load_suite("capital-quiz")
    assert quiz.lanes == ["base@raw", "base@assistant", "chat"]
    assert quiz.expectations[0].lane == "base@raw" and quiz.expectations[0].threshold == 0.5


def test_a_good_suite_round_trips_through_its_snapshot() -> None:
    suite = load_suite("mask-decides")
    again = type(suite).model_validate(suite.model_dump(mode="json", exclude_none=True))
    assert again == suite


@pytest.mark.parametrize(
    ("text", "words"),
    [
        (suite_text(extra="colour = 'red'"), "colour: unknown key"),
        (suite_text(kind="vibes"), "unknown scorer kind 'vibes'"),
        (suite_text(scorer="pattern = '(unclosed'"), "does not compile"),
        (suite_text(extra="").replace("samples = 3", "samples = 0"), "samples: Input should be greater than"),
        (suite_text(extra="").replace("samples = 3", "samples = 1001"), "samples: Input should be less than"),
        (suite_text(scorer="pattern = 'a'\nfirst_lines = true"), "first_lines: unknown key"),
        (suite_text(extra='expectations = [\'lane "base@raw" vibes("q") > 1\']'), "cannot read expectation"),
        (suite_text(extra='expectations = [\'lane "chat" rate("q") > 0.5\']'), "no lane 'chat'"),
        (suite_text(extra='expectations = [\'lane "base@raw" rate("nope") > 0.5\']'), "no scorer 'nope'"),
        (suite_text(kind="choice", scorer="continuations = [' a']"), "at least two continuations"),
        (suite_text(extra='expectations = [\'lane "base@raw" prompt 2 rate("q") > 0.5\']'), "prompts 1 to 1, not 2"),
        (suite_text().replace('"base@raw"', '"base@raw~quiz:2"'), "is a contrast lane: those run in conversations"),
    ],
)
def test_bad_suites_name_the_problem(text: str, words: str) -> None:
    with pytest.raises(SuiteError) as e:
        parse_suite_toml(text, "t.toml")
    assert words in str(e.value)
    assert "t.toml" in str(e.value)


def test_an_expectation_can_narrow_to_one_prompt() -> None:
    text = suite_text(extra='expectations = [\'lane "base@raw" prompt 1 rate("q") >= 0.5\']')
    [expectation] = parse_suite_toml(text, "t.toml").expectations
    assert (expectation.lane, expectation.prompt, expectation.left.scorer) == ("base@raw", 1, "q")
    [pooled] = parse_suite_toml(
        suite_text(extra='expectations = [\'lane "base@raw" rate("q") >= 0.5\']'), "t"
    ).expectations
    assert pooled.prompt is None


def test_run_options_are_checked_like_the_file() -> None:
    suite = load_suite("capital-quiz")
    assert suite.with_run_options(samples=5, lanes=["chat"]).samples == 5
    assert [e.lane for e in suite.with_run_options(lanes=["chat"]).expectations] == ["chat"]
    for samples in (0, 1001):
        with pytest.raises(SuiteError, match="samples"):
            suite.with_run_options(samples=samples)


def test_user_suites_load_by_name_and_broken_ones_are_reported(tmp_path: Path) -> None:
    (tmp_path / "mine.toml").write_text(suite_text().replace('name = "t"', ""), encoding="utf-8")
    (tmp_path / "broken.toml").write_text("name = ", encoding="utf-8")
    (tmp_path / "capital-quiz.toml").write_text(suite_text(), encoding="utf-8")
    suites, problems = list_suites(tmp_path)
    assert "mine" in {s.name for s in suites}
    assert len(problems) == 2
    assert load_suite("mine", tmp_path).name == "mine"
    with pytest.raises(SuiteError, match="unknown suite 'nope'; available: assistant-axis, capital-quiz"):
        load_suite("nope", tmp_path)
