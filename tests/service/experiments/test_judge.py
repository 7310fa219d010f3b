# The `judge` scorer: a chat model answers a yes/no rubric about each sampled reply. It runs only when a run
# turns judges on; its model and words are kept with the score; a judge that cannot run is refused before
# anything is saved. The judge here is the real bundled SmolLM2 chat model.

from __future__ import annotations

import pytest
from sqlalchemy import Engine, text

from personas.suites import SuiteError, parse_suite_toml
from simulator.registry import Registry
from ui.service.errors import ServiceError
from ui.service.experiments.judges import JUDGES_KEY, read_answer
from ui.service.experiments.report_models import JudgesUsed
from ui.service.experiments.service import Experiments

SUITE = """
name = "judged"
claim = "A base model wearing the assistant mask says it is an AI."
lanes = ["base@assistant"]
samples = 2
expectations = ['lane "base@assistant" rate("says_ai") >= 0.5']
[settings]
max_tokens = 12
[[prompts]]
text = "Are you a person?"
[[scorers]]
name = "says_ai"
kind = "judge"
model = "{judge}"
rubric = "Does the reply say that its writer is an AI?"
[[scorers]]
name = "mentions_ai"
kind = "contains"
text = ["AI"]
"""


def runs(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.execute(text("SELECT count(*) FROM run")).scalar_one())


@pytest.mark.parametrize(
    ("reply", "answer"),
    [("Yes.", True), ("yes, it does", True), (" NO", False), ("No - it says it is human", False), ("Maybe", None)],
)
def test_the_answer_is_the_judges_first_word(reply: str, answer: bool | None) -> None:
    assert read_answer(reply) is answer


def test_a_judge_scorer_needs_a_model_and_a_rubric_and_counts_as_a_rate() -> None:
    suite = parse_suite_toml(SUITE.format(judge="chat"), "judged.toml")
    assert suite.scorer("says_ai").kind == "judge"  # and rate("says_ai") was accepted as an expectation
    with pytest.raises(SuiteError, match="rubric"):
        parse_suite_toml(SUITE.format(judge="chat").replace('rubric = "Does', 'question = "Does'), "judged.toml")
    with pytest.raises(SuiteError, match="mean"):
        parse_suite_toml(SUITE.format(judge="chat").replace('rate("says_ai")', 'mean("says_ai")'), "judged.toml")


@pytest.mark.model
@pytest.mark.slow
def test_judges_grade_every_sample_only_when_turned_on(engine: Engine, registry: Registry) -> None:
    service = Experiments(engine, registry)
    suite = parse_suite_toml(SUITE.format(judge="chat"), "judged.toml")

    off = service.start(suite)
    list(service.execute(off))
    report = service.report(off)
    [cell] = report.lanes[0].cells
    assert [set(s.scores) for s in cell.samples] == [{"says_ai", "mentions_ai"}] * 2
    assert all(s.scores["says_ai"] is None for s in cell.samples)
    assert report.judges == JudgesUsed(on=False, models={"says_ai": "chat"})
    assert "Judge scorers: says_ai (chat); off" in service.report(off).to_markdown()
    assert report.verdicts[0].verdict == "undecided"

    on = service.start(suite, judges=True)
    list(service.execute(on))
    report = service.report(on)
    [cell] = report.lanes[0].cells
    for sample in cell.samples:
        judged = sample.scores[JUDGES_KEY]["says_ai"]
        assert judged["model"] == "chat" and judged["error"] is None and judged["reply"].strip()
        assert sample.scores["says_ai"] is judged["verdict"] is read_answer(judged["reply"])
    assert report.judges is not None and report.judges.on is True
    judged_ones = [s for s in cell.samples if s.scores["says_ai"] is not None]
    assert report.lanes[0].scorers["says_ai"].n == len(judged_ones)

    replay = list(service.replay(on))[-1]
    assert replay.differences == []  # the same seeds give the same replies and the same judge's words


@pytest.mark.model
@pytest.mark.parametrize(
    ("judge", "message"),
    [
        ("base", "base is a base model; a judge must be a chat model"),
        ("openai/gpt-4o-mini", "OPENAI_API_KEY"),
        ("no-such-model", "no-such-model"),
    ],
)
def test_a_judge_that_cannot_run_is_refused_before_anything_is_saved(
    engine: Engine, registry: Registry, monkeypatch: pytest.MonkeyPatch, judge: str, message: str
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    service = Experiments(engine, registry)
    suite = parse_suite_toml(SUITE.format(judge=judge), "judged.toml")
    with pytest.raises(ServiceError, match=message):
        service.start(suite, judges=True)
    assert runs(engine) == 0
    assert service.start(suite) == 1  # with judges off, the suite runs without asking them
