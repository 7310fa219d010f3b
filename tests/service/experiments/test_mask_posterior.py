"""The mask_posterior scorer on real samples: each reply scored under every mask of the scorer, the guess counted
against the mask its lane wore, and the run's confusion matrix with its accuracy and Wilson interval in the report
and its exports. Bad suites are refused before anything runs."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine

from personas.mask import MaskError
from personas.suites import SuiteError, load_suite, parse_suite_toml
from simulator.registry import Registry
from ui.service.errors import ServiceError
from ui.service.experiments.posteriors import POSTERIORS_KEY
from ui.service.experiments.service import Experiments
from ui.service.statistics.rates import wilson

SUITE = """
name = "speakers"
lanes = ["base@assistant", "base@shakespeare"]
samples = 2
seed = 7
[settings]
max_tokens = 12
[[prompts]]
text = "Tell me about yourself."
[[scorers]]
name = "speaker"
kind = "mask_posterior"
masks = {masks}
"""


@pytest.mark.model
@pytest.mark.slow
def test_each_reply_is_guessed_and_the_report_has_the_confusion_matrix(engine: Engine, registry: Registry) -> None:
    service = Experiments(engine, registry)
    run = service.start(parse_suite_toml(SUITE.format(masks='["assistant", "shakespeare", "raw"]'), "s.toml"))
    list(service.execute(run))
    report = service.report(run)

    samples = [(lane.lane, s) for lane in report.lanes for cell in lane.cells for s in cell.samples]
    assert len(samples) == 4
    for lane, sample in samples:
        record = sample.scores[POSTERIORS_KEY]["speaker"]
        worn = lane.split("@")[1]
        assert record["worn"] == worn
        assert record["guess"] == max(record["posteriors"], key=record["posteriors"].get)
        assert sum(record["posteriors"].values()) == pytest.approx(1, abs=1e-5)
        assert sample.scores["speaker"] is (record["guess"] == worn)

    [confusion] = report.confusions
    assert confusion.masks == ["assistant", "shakespeare", "raw"]
    assert sum(sum(row.values()) for row in confusion.rows.values()) == 4
    assert sum(confusion.rows["raw"].values()) == 0  # no lane wore it
    right = sum(confusion.rows[m][m] for m in confusion.masks)
    expected = wilson(right, 4)
    assert expected is not None and confusion.accuracy.successes == right
    assert (confusion.accuracy.rate, confusion.accuracy.low) == (round(expected.value, 6), round(expected.low, 6))

    markdown = report.to_markdown()
    assert "## Who is speaking? (speaker)" in markdown
    assert "| worn ↓ guessed → | assistant | shakespeare | raw |" in markdown
    assert f"Accuracy: {expected.value:.3g} [" in markdown
    csv = report.to_csv()
    assert f"speaker,mask_posterior,accuracy,{confusion.accuracy.rate}," in csv
    assert 'speaker,mask_posterior,"worn assistant, guessed shakespeare",' in csv


def test_a_suite_with_a_mask_that_does_not_exist_is_refused_before_it_runs(engine: Engine, registry: Registry) -> None:
    service = Experiments(engine, registry)
    with pytest.raises(MaskError, match="unknown mask 'nosuch'"):
        service.start(parse_suite_toml(SUITE.format(masks='["assistant", "nosuch"]'), "s.toml"))
    with pytest.raises(SuiteError, match="at least 2"):
        parse_suite_toml(SUITE.format(masks='["assistant"]'), "s.toml")
    chat_model = SUITE.format(masks='["assistant", "raw"]') + 'model = "chat"\n'
    with pytest.raises(ServiceError, match="chat is a chat model"):
        service.start(parse_suite_toml(chat_model, "s.toml"))
    assert service.runs() == []


def test_the_builtin_suite_scores_four_masks() -> None:
    suite = load_suite("who-is-speaking")
    [scorer] = suite.scorers
    assert scorer.kind == "mask_posterior" and len(scorer.masks) == 4
    assert [lane.split("@")[1] for lane in suite.lanes] == scorer.masks
