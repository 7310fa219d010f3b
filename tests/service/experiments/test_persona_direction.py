"""The persona_direction and projection scorers on real samples of the bundled base model: a tiny suite fits its
direction between two masks from its own replies (two prompts fit, one held out), stores it with its provenance,
reports the best layer and the held-out AUC with its interval, scores each reply's projection on it, draws the lane
steered with it only once it is stored, and a resumed run redraws nothing. Bad suites are refused with one line
before anything runs."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from sqlalchemy import Engine

from personas.suites import SuiteError, parse_suite_toml
from simulator.registry import Registry
from ui.service.experiments.service import Experiments
from ui.service.vectors.service import Vectors

SUITE = """
name = "tiny-axis"
lanes = ["base@assistant^tiny-axis:-1", "base@assistant", "base@rogue-ai"]
samples = 2
seed = 11
[settings]
max_tokens = 8
[[prompts]]
text = "Hello, who are you?"
[[prompts]]
text = "Open the door, please."
[[prompts]]
text = "What will you do next?"
[[scorers]]
name = "axis"
kind = "persona_direction"
toward = "assistant"
away = "rogue-ai"
[[scorers]]
name = "drift"
kind = "projection"
direction = "tiny-axis"
"""


@pytest.mark.model
@pytest.mark.slow
def test_a_run_fits_stores_and_reports_its_direction(engine: Engine, registry: Registry) -> None:
    service = Experiments(engine, registry)
    suite = parse_suite_toml(SUITE, "tiny.toml")
    run = service.start(suite)
    list(service.execute(run))
    report = service.report(run)
    assert report.status == "complete", report.error

    [direction] = report.directions
    assert direction.direction == "tiny-axis" and (direction.toward, direction.away) == ("assistant", "rogue-ai")
    assert direction.prompts == ["Hello, who are you?", "Open the door, please."]
    assert direction.held_out == ["What will you do next?"]
    assert direction.n == {"assistant": 2, "rogue-ai": 2} and direction.fit_n == {"assistant": 4, "rogue-ai": 4}
    assert [x.layer for x in direction.layers] == list(range(18))
    assert 1 <= direction.best_layer <= 17
    best = direction.layers[direction.best_layer]
    assert (direction.auc, direction.low, direction.high) == (best.auc, best.low, best.high)
    assert direction.auc == max(x.auc for x in direction.layers[1:])
    assert 0 <= direction.low <= direction.auc <= direction.high <= 1
    markdown = report.to_markdown()
    assert "## Direction tiny-axis (axis)" in markdown
    assert f"at layer {direction.best_layer}" in markdown and "| layer | 0 | 1 |" in markdown
    assert ("masks are separated" in markdown) == (direction.low > 0.5)

    stored = Vectors(engine, registry).show("tiny-axis")
    assert stored.best_layer == direction.best_layer and stored.vector_sha256 == direction.vector_sha256
    assert (stored.suite, stored.run_id, stored.toward, stored.away) == ("tiny-axis", run, "assistant", "rogue-ai")
    assert stored.held_out == ["What will you do next?"] and stored.n == {"assistant": 2, "rogue-ai": 2}
    assert [x.auc for x in stored.layers] == [x.auc for x in direction.layers]
    vectors = Vectors(engine, registry).array("tiny-axis")
    assert vectors.shape == (18, 640) and np.all(np.isfinite(vectors))

    drifts = [s.scores["drift"] for lane in report.lanes for cell in lane.cells for s in cell.samples]
    assert len(drifts) == 18 and all(isinstance(d, float) for d in drifts)
    assert report.lanes[1].scorers["drift"].n == 6

    steered = report.lanes[0]
    assert steered.alpha == -1 and steered.steering == f"tiny-axis α −1 (L{direction.best_layer})"
    assert f"| base@assistant^tiny-axis:-1 · tiny-axis α −1 (L{direction.best_layer}) | 6 |" in markdown
    # Listed first, drawn last: after the lanes the direction is fitted on.
    fitted_at = max(s.message_id or 0 for lane in report.lanes[1:] for c in lane.cells for s in c.samples)
    assert min(s.message_id or 0 for c in steered.cells for s in c.samples) > fitted_at


@pytest.mark.model
@pytest.mark.slow
def test_a_stopped_run_resumes_without_redrawing(engine: Engine, registry: Registry) -> None:
    service = Experiments(engine, registry)
    run = service.start(parse_suite_toml(SUITE, "tiny.toml"))
    cancel = threading.Event()
    for progress in service.execute(run, cancel):
        if progress.samples_done >= 5:
            cancel.set()
    assert service.report(run).status == "stopped" and not service.report(run).directions
    before = {s.message_id for lane in service.report(run).lanes for c in lane.cells for s in c.samples}
    list(service.resume(run))
    report = service.report(run)
    after = {s.message_id for lane in report.lanes for c in lane.cells for s in c.samples}
    assert report.status == "complete" and before < after and len(after) == 18
    assert [d.direction for d in report.directions] == ["tiny-axis"]
    assert Vectors(engine, registry).show("tiny-axis").run_id == run


def test_bad_direction_suites_are_refused_in_one_line() -> None:
    with pytest.raises(SuiteError, match="'rogue-ai' must be worn by exactly one unsteered lane"):
        parse_suite_toml(SUITE.replace('"base@rogue-ai"', '"base@raw"'), "tiny.toml")
    with pytest.raises(SuiteError, match="leaves 3 to fit and 0 held out"):
        parse_suite_toml(SUITE.replace("away = ", "held_out = 0.2\naway = "), "tiny.toml")
    no_fit = SUITE.replace(
        'kind = "persona_direction"\ntoward = "assistant"\naway = "rogue-ai"', 'kind = "in_character"'
    )
    with pytest.raises(SuiteError, match="lane 'base@assistant.tiny-axis:-1' steers with 'tiny-axis', this suite's"):
        parse_suite_toml(no_fit, "tiny.toml")
    unsteered = no_fit.replace('"base@assistant^tiny-axis:-1", ', "")
    with pytest.raises(SuiteError, match="projects on 'tiny-axis', this suite's own name, but no scorer fits it"):
        parse_suite_toml(unsteered, "tiny.toml")
