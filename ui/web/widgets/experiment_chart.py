"""A run's figures as tables and Altair charts: each lane x scorer with its value and 95% interval (rates and metric
means), and the next_token/choice probabilities. Built from the report's plain data, so a test can check them."""

from __future__ import annotations

from typing import Any

import altair as alt

RATE = "rate"
MEAN = "mean"


def figure_rows(report: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per lane x sampled scorer: the rate (Wilson 95%) or mean (bootstrap 95%) and its interval."""
    rows = []
    for lane in report["lanes"]:
        for name, stats in lane["scorers"].items():
            statistic = RATE if RATE in stats else MEAN
            rows.append(
                {
                    "lane": lane["lane"],
                    "scorer": name,
                    "kind": stats["kind"],
                    "statistic": statistic,
                    "value": stats.get(statistic),
                    "low": stats.get("low"),
                    "high": stats.get("high"),
                    "n": stats.get("n", 0),
                    "successes": stats.get("successes") if statistic == RATE else None,
                }
            )
    return rows


def likelihood_rows(report: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per lane x prompt x next_token/choice scorer x continuation, with its probability."""
    rows = []
    for lane in report["lanes"]:
        for cell in lane["cells"]:
            for name, result in (cell["likelihoods"] or {}).items():
                for c in result["continuations"]:
                    rows.append(
                        {
                            "lane": lane["lane"],
                            "prompt": cell["prompt_index"] + 1,
                            "scorer": name,
                            "continuation": c["continuation"],
                            "p": c["p"],
                            "chosen": c["continuation"] == result.get("choice"),
                        }
                    )
    return rows


def interval_chart(rows: list[dict[str, Any]], statistic: str) -> alt.LayerChart | alt.FacetChart | None:
    """The value per lane, a point per scorer with its 95% interval as an error bar; means (metrics per mask) get
    a panel per metric, each on its own scale. None without values."""
    data = [row for row in rows if row["statistic"] == statistic and row["value"] is not None]
    if not data:
        return None
    title = "rate (Wilson 95%)" if statistic == RATE else "mean (bootstrap 95%)"
    scale = alt.Scale(domain=[0, 1]) if statistic == RATE else alt.Scale(zero=False)
    base = alt.Chart().encode(
        x=alt.X("lane:N", title="lane", sort=None),
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
    chart = alt.layer(bars, points, data=alt.Data(values=data)).properties(height=260)
    if statistic == RATE:
        return chart
    return chart.facet(column=alt.Column("scorer:N", title=None)).resolve_scale(y="independent")


def likelihood_chart(rows: list[dict[str, Any]]) -> alt.Chart | None:
    """P(continuation | document) per lane, one bar per continuation; None without next_token results."""
    if not rows:
        return None
    return (
        alt.Chart(alt.Data(values=rows))
        .mark_bar()
        .encode(
            x=alt.X("lane:N", title="lane", sort=None),
            xOffset=alt.XOffset("continuation:N"),
            y=alt.Y("p:Q", title="P(continuation | document)"),
            color=alt.Color("continuation:N", title="continuation"),
            tooltip=[
                alt.Tooltip("lane:N"),
                alt.Tooltip("prompt:Q"),
                alt.Tooltip("scorer:N"),
                alt.Tooltip("continuation:N"),
                alt.Tooltip("p:Q", format=".4g"),
            ],
        )
        .properties(height=260)
    )
