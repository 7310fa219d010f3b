"""A run's figures as tables and Altair charts: each lane x scorer with its value and 95% interval (rates and metric
means), and the next_token/choice probabilities. Built as plain rows from the report, so a test can check them."""

from __future__ import annotations

from typing import Any

import altair as alt

from ui.service.experiments.report import RunReport
from ui.service.experiments.report_models import RateFigure

RATE = "rate"
MEAN = "mean"


def figure_rows(report: RunReport) -> list[dict[str, Any]]:
    """One row per lane x sampled scorer: the rate (Wilson 95%) or mean (bootstrap 95%) and its interval."""
    rows = []
    for lane in report.lanes:
        for name, stats in lane.scorers.items():
            rows.append(
                {
                    "lane": lane.short_label,
                    "scorer": name,
                    "kind": stats.kind,
                    "statistic": RATE if isinstance(stats, RateFigure) else MEAN,
                    "value": stats.value,
                    "low": stats.low,
                    "high": stats.high,
                    "n": stats.n,
                    "successes": stats.successes if isinstance(stats, RateFigure) else None,
                }
            )
    return rows


def likelihood_rows(report: RunReport) -> list[dict[str, Any]]:
    """One row per lane x prompt x next_token/choice scorer x continuation, with its probability."""
    rows = []
    for lane in report.lanes:
        for cell in lane.cells:
            for name, result in (cell.likelihoods or {}).items():
                for c in result.continuations:
                    rows.append(
                        {
                            "lane": lane.lane,
                            "prompt": cell.prompt_index + 1,
                            "scorer": name,
                            "continuation": c.continuation,
                            "p": c.p,
                            "chosen": c.continuation == result.choice,
                        }
                    )
    return rows


def interval_chart(rows: list[dict[str, Any]], statistic: str) -> alt.LayerChart | alt.HConcatChart | None:
    """The value per lane, a point per scorer with its 95% interval as an error bar; means (metrics per mask) get
    a panel per metric, each on its own scale. None without values."""
    data = [row for row in rows if row["statistic"] == statistic and row["value"] is not None]
    if not data:
        return None
    if statistic == RATE:
        return _panel(data, "rate (Wilson 95%)", alt.Scale(domain=[0, 1]))
    panels = [
        _panel(chosen, f"{name}: mean (bootstrap 95%)", _metric_scale(chosen))
        for name in dict.fromkeys(row["scorer"] for row in data)
        if (chosen := [row for row in data if row["scorer"] == name])
    ]
    return panels[0] if len(panels) == 1 else alt.hconcat(*panels)


def _metric_scale(data: list[dict[str, Any]]) -> alt.Scale:
    """A metric's own scale. One that is the same in every sample and lane (P(the speaker tag) of one document)
    has an interval of width 0, and Vega-Lite would draw an axis of one tick at that value: pad it so the value
    sits mid-axis."""
    ends = [row[k] for row in data for k in ("value", "low", "high") if row[k] is not None]
    low, high = min(ends), max(ends)
    if high - low > 1e-9 * max(1.0, abs(high)):
        return alt.Scale(zero=False)
    pad = max(abs(low) * 0.05, 0.01)
    return alt.Scale(domain=[low - pad, high + pad], zero=False)


def _panel(data: list[dict[str, Any]], title: str, scale: alt.Scale) -> alt.LayerChart:
    base = alt.Chart().encode(
        x=alt.X("lane:N", title="lane", sort=None, axis=alt.Axis(labelLimit=220)),
        xOffset=alt.XOffset("scorer:N"),
        color=alt.Color("scorer:N", title="scorer"),
        tooltip=[
            alt.Tooltip("lane:N"),
            alt.Tooltip("scorer:N"),
            alt.Tooltip("value:Q", format=".3f"),
            alt.Tooltip("low:Q", format=".3f"),
            alt.Tooltip("high:Q", format=".3f"),
            alt.Tooltip("n:Q"),
        ],
    )
    bars = base.mark_errorbar(ticks=True).encode(y=alt.Y("low:Q", title=title, scale=scale), y2=alt.Y2("high:Q"))
    points = base.mark_point(filled=True, size=70).encode(y=alt.Y("value:Q", scale=scale))
    return alt.LayerChart(layer=[bars, points], data=alt.Data(values=data), height=260)


def likelihood_bars(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One bar per lane x prompt x continuation, with the scorers that measured it: a next_token and a choice
    scorer of the same word both measure P(word | the same document), and two rows for one bar would stack it
    to twice its probability."""
    several_prompts = len({row["prompt"] for row in rows}) > 1
    bars: dict[tuple[str, int, str], dict[str, Any]] = {}
    for row in rows:
        key = (row["lane"], row["prompt"], row["continuation"])
        if key not in bars:
            where = f"{row['lane']} · prompt {row['prompt']}" if several_prompts else row["lane"]
            bars[key] = {**row, "where": where, "scorer": row["scorer"]}
        else:
            bars[key]["scorer"] += f", {row['scorer']}"
    return list(bars.values())


def likelihood_chart(rows: list[dict[str, Any]]) -> alt.Chart | None:
    """P(continuation | document) per lane (and prompt), one bar per continuation; None without next_token
    results."""
    if not rows:
        return None
    return (
        alt.Chart(alt.Data(values=likelihood_bars(rows)))
        .mark_bar()
        .encode(
            x=alt.X("where:N", title="lane", sort=None),
            xOffset=alt.XOffset("continuation:N"),
            # Never stacked: each bar is one probability, not a sum.
            y=alt.Y("p:Q", title="P(continuation | document)", stack=None),
            color=alt.Color("continuation:N", title="continuation"),
            tooltip=[
                alt.Tooltip("lane:N"),
                alt.Tooltip("prompt:Q"),
                alt.Tooltip("scorer:N", title="scorers"),
                alt.Tooltip("continuation:N"),
                alt.Tooltip("p:Q", format=".4g"),
            ],
        )
        .properties(height=260)
    )
