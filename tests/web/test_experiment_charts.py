# The Experiments page's Altair charts, read back from their Vega-Lite specs (what the browser draws): each
# word's bar is its probability once, and a metric that is the same in every sample reads as a value on an axis.
# The runs are stored in a real SQLite file with their measured numbers; nothing is drawn from a model.

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import altair as alt
import pytest
from sqlalchemy import Engine

from personas.suites import load_suite, parse_suite_toml
from simulator.registry import Registry
from tests.support.experiments import capital_quiz_run, store_run
from ui.service.experiments.service import Experiments
from ui.service.workspace import open_database
from ui.web.widgets.experiments.chart import (
    MEAN,
    RATE,
    figure_rows,
    interval_chart,
    likelihood_chart,
    likelihood_rows,
)


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = open_database(f"sqlite:///{tmp_path / 'simulacra.db'}")
    yield engine
    engine.dispose()


def measured(kind: str, ps: dict[str, float]) -> dict[str, Any]:
    """A next_token/choice result as the runner stores it."""
    best = max(ps, key=ps.__getitem__)
    return {
        "kind": kind,
        "document": "(the lane's document)",
        "continuations": [{"continuation": c, "p": p, "logprob": 0.0, "token_ps": [p]} for c, p in ps.items()],
        "choice": best,
    }


def data_values(spec: dict[str, Any]) -> list[dict[str, Any]]:
    data = spec["data"]
    return data["values"] if "values" in data else spec["datasets"][data["name"]]


def bar_heights(chart: alt.Chart) -> dict[tuple[str, str], float]:
    """How tall the browser draws each bar (x, offset): rows at one position add up unless stacking is off."""
    spec = chart.to_dict()
    x, offset, y = (spec["encoding"][channel]["field"] for channel in ("x", "xOffset", "y"))
    stacked = spec["encoding"]["y"].get("stack", "zero") is not None
    heights: dict[tuple[str, str], float] = {}
    for datum in data_values(spec):
        key = (datum[x], datum[offset])
        heights[key] = heights.get(key, 0.0) + datum[y] if stacked else max(heights.get(key, 0.0), datum[y])
    return heights


def test_each_words_bar_is_its_probability_once(engine: Engine, registry: Registry) -> None:
    # Probabilities gemma-3-270m gave (issue 17): two scorers measured " jumps" and "♪", each drawn twice as tall.
    words = {" jumps": 0.00133, " hides": 0.00041, " runs": 0.00102, " blue": 0.0000112, " the": 0.0031}
    next_token = load_suite("next-token")
    run = store_run(
        engine,
        next_token,
        {},
        likelihoods={
            "base": {
                "next_word": measured("next_token", words),
                "most_likely": measured("choice", {w: words[w] for w in (" jumps", " hides", " blue")}),
            }
        },
    )
    songs = {"base@songbird": {" No": 0.0412, " ♪": 0.383}, "base@assistant": {" No": 0.219, " ♪": 0.0007}}
    mask_decides = load_suite("mask-decides")
    other = store_run(
        engine,
        mask_decides,
        {},
        likelihoods={
            lane: {"first_word": measured("next_token", ps), "picks": measured("choice", ps)}
            for lane, ps in songs.items()
        },
    )
    service = Experiments(engine, registry)
    chart = likelihood_chart(likelihood_rows(service.report(run)))
    assert chart is not None
    assert bar_heights(chart) == {("base", w): pytest.approx(p) for w, p in words.items()}
    chart = likelihood_chart(likelihood_rows(service.report(other)))
    assert chart is not None
    expected = {(lane, w): pytest.approx(p) for lane, ps in songs.items() for w, p in ps.items()}
    assert bar_heights(chart) == expected


def test_each_prompt_has_its_own_bars(engine: Engine, registry: Registry) -> None:
    suite = parse_suite_toml(
        'name = "two"\nlanes = ["base"]\n[[prompts]]\ndocument = "A"\n[[prompts]]\ndocument = "B"\n'
        '[[scorers]]\nname = "w"\nkind = "next_token"\ncontinuations = [" x"]\n',
        "two.toml",
    )
    run = store_run(engine, suite, {}, likelihoods={"base": {"w": measured("next_token", {" x": 0.25})}})
    chart = likelihood_chart(likelihood_rows(Experiments(engine, registry).report(run)))
    assert chart is not None
    assert bar_heights(chart) == {("base · prompt 1", " x"): 0.25, ("base · prompt 2", " x"): 0.25}


def y_scales(spec: Any) -> list[dict[str, Any]]:
    """Every y scale in a (layered or concatenated) spec."""
    if isinstance(spec, list):
        return [scale for item in spec for scale in y_scales(item)]
    if not isinstance(spec, dict):
        return []
    found = [spec["encoding"]["y"].get("scale", {})] if "y" in spec.get("encoding", {}) else []
    return found + [scale for key in ("layer", "hconcat", "spec") for scale in y_scales(spec.get(key, []))]


def test_a_metric_equal_in_every_sample_reads_as_a_value_on_its_axis(engine: Engine, registry: Registry) -> None:
    # P("Ada:" | the assistant mask's document) is one number for every seed: its interval has no width.
    rows = figure_rows(Experiments(engine, registry).report(capital_quiz_run(engine)))
    chart = interval_chart(rows, MEAN)
    assert chart is not None
    [(low, high)] = {tuple(scale["domain"]) for scale in y_scales(chart.to_dict())}
    assert low < 0.896748 < high and high - low >= 0.05
    assert abs((low + high) / 2 - 0.896748) < 1e-9  # mid-axis, with room for ticks either side
    rates = interval_chart(rows, RATE)
    assert rates is not None and {tuple(s["domain"]) for s in y_scales(rates.to_dict())} == {(0, 1)}
