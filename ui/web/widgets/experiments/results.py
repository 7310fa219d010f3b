"""One run's results on the Experiments page: what ran, a table of lane x scorer with each rate or mean and its 95%
interval, the Altair charts, and a badge per expectation's verdict. Everything that came from a suite or a
model is escaped, or shown as data in a table or chart."""

from __future__ import annotations

from typing import Any

import streamlit as st

from ui.service.experiments.report import RunReport
from ui.service.experiments.report_models import (
    Confusion,
    DirectionReport,
    ExpectationVerdict,
    MeasuredVerdict,
    RunRow,
    decision_note,
)
from ui.web.widgets.experiments.chart import MEAN, RATE, figure_rows, interval_chart, likelihood_chart, likelihood_rows
from ui.web.widgets.view import escape_markdown

# A scorer with nothing to measure in a lane (a chat reply has no in-character probability) has no value: the
# table draws an empty cell with this, not the word "None".
MISSING = "—"
BADGES = {"holds": "green", "fails": "red", "undecided": "orange"}
STATUS_BADGES = {"queued": "gray", "complete": "green", "running": "blue", "stopped": "orange", "failed": "red"}


def run_label(run: RunRow) -> str:
    """A stored run in a picker (shown as plain text by the selectbox)."""
    # Only what never changes: a picker keeps the label it was first drawn with (status and progress are in
    # the run's header below it).
    replay = f" · replay of #{run.replay_of}" if run.replay_of else ""
    when = run.started_at[:16].replace("T", " ")
    return f"#{run.id} {run.suite} · {run.samples_total} samples · started {when} UTC{replay}"


def show_results(report: RunReport, key: str) -> None:
    """The run's header, figures table, charts and verdicts; `key` keeps two runs side by side apart."""
    _header(report)
    rows = figure_rows(report)
    if rows:
        st.dataframe(
            [_table_row(row) for row in rows],
            hide_index=True,
            key=f"{key}table",
            placeholder=MISSING,
            column_config={
                "value": st.column_config.NumberColumn("rate / mean", format="%.3f"),
                "low": st.column_config.NumberColumn("95% low", format="%.3f"),
                "high": st.column_config.NumberColumn("95% high", format="%.3f"),
            },
        )
        st.caption("Rates: Wilson 95% interval. Means: bootstrap 95% interval (seeded with the suite's seed).")
    elif not likelihood_rows(report):
        st.info("No samples yet.")
    _charts(report, rows, key)
    for confusion in report.confusions:
        _confusion(confusion)
    for direction in report.directions:
        _direction(direction, key)
    show_verdicts(report.verdicts, key)


def _direction(d: DirectionReport, key: str) -> None:
    """The fitted direction: its best layer and held-out AUC in a sentence (a warning when the masks are not
    separated), and each layer's AUC with its interval."""
    with st.container(key=f"{key}direction-{d.scorer}"):
        st.markdown(f"**Direction** {escape_markdown(d.direction)} ({escape_markdown(d.scorer)})")
        (st.success if d.separated else st.warning)(escape_markdown(d.summary))
        st.caption(
            escape_markdown(
                f"{d.toward} minus {d.away}, per layer, over each reply's own tokens; fitted on {len(d.prompts)}"
                f" prompt(s), measured on {len(d.held_out)} held out. ROC AUC ({d.toward} positive), bootstrap 95%"
                " interval. Layer 0 cannot be steered."
            )
        )
        st.dataframe(
            [{"layer": x.layer, "AUC": x.auc, "95% low": x.low, "95% high": x.high} for x in d.layers],
            hide_index=True,
            key=f"{key}direction-table-{d.scorer}",
            height=180,
            column_config={c: st.column_config.NumberColumn(c, format="%.3f") for c in ("AUC", "95% low", "95% high")},
        )


def _confusion(confusion: Confusion) -> None:
    """Who is speaking?: the mask each reply's lane wore (rows) against the mask its posterior named (columns)."""
    st.markdown(f"**Who is speaking?** ({escape_markdown(confusion.scorer)}): rows the mask worn, columns the guess")
    st.table([{"worn": worn, **counts} for worn, counts in confusion.rows.items()])
    a = confusion.accuracy
    if a.rate is not None and a.low is not None and a.high is not None:
        st.caption(f"Accuracy {a.rate:.3f} [{a.low:.3f}, {a.high:.3f}] ({a.successes}/{a.n}), Wilson 95% interval.")


def _header(report: RunReport) -> None:
    status = report.status
    badge = f":{STATUS_BADGES.get(status, 'gray')}-badge[{escape_markdown(status)}]"
    st.markdown(f"**Run #{report.run_id}** · {escape_markdown(report.suite)} {badge}")
    if report.claim:
        st.caption(escape_markdown(f"Claim: {report.claim}"))
    progress = report.progress
    settings = ", ".join(f"{k} {v}" for k, v in report.settings.model_dump(mode="json").items() if v not in ([], None))
    st.caption(
        escape_markdown(
            f"{progress.samples_done}/{progress.samples_total} samples · {report.samples_per_cell} per cell"
            f" · seeds {report.seeds} · {settings}"
        )
    )
    if report.error:
        st.error(escape_markdown(f"Run #{report.run_id}: {report.error}"))


def _table_row(row: dict[str, Any]) -> dict[str, Any]:
    counted = f"{row['successes']}/{row['n']}" if row["statistic"] == RATE else f"n={row['n']}"
    return {
        "lane": row["lane"],
        "scorer": row["scorer"],
        "kind": row["kind"],
        "value": row["value"],
        "low": row["low"],
        "high": row["high"],
        "counted": counted,
    }


def _charts(report: RunReport, rows: list[dict[str, Any]], key: str) -> None:
    rates = interval_chart(rows, RATE)
    if rates is not None:
        with st.container(key=f"{key}rates"):
            st.markdown("**Rate per lane** (95% interval)")
            st.altair_chart(rates)
    means = interval_chart(rows, MEAN)
    if means is not None:
        with st.container(key=f"{key}means"):
            st.markdown("**Metrics per mask** (mean, 95% interval)")
            st.altair_chart(means)
    likelihoods = likelihood_rows(report)
    if likelihoods:
        st.markdown("**Next-token probabilities** (one forward pass, no sampling)")
        chart = likelihood_chart(likelihoods)
        if chart is not None:
            st.altair_chart(chart)
        st.dataframe(likelihoods, hide_index=True, key=f"{key}likelihood-table", placeholder=MISSING)


def show_verdicts(verdicts: list[ExpectationVerdict], key: str) -> None:
    """A badge per expectation: holds, fails or undecided, computed from the measurement."""
    if not verdicts:
        return
    with st.container(key=f"{key}verdicts"):
        st.markdown("**Verdicts**")
        for v in verdicts:
            badge = f":{BADGES.get(v.verdict, 'gray')}-badge[{escape_markdown(v.verdict)}]"
            st.markdown(f"{badge} {escape_markdown(v.expectation)} · {escape_markdown(_measured(v))}")
            # What the scorer counts is what the verdict is about: a regex name alone hides it.
            scorer = f"{v.scorer}: {v.description}" if v.description else v.scorer
            notes = [text for text in (scorer, decision_note(v)) if text]
            if notes:
                st.caption(escape_markdown(" · ".join(notes)))


def _measured(v: ExpectationVerdict) -> str:
    if v.value is None:
        return "nothing measured yet"
    text = f"measured {v.value:.3g}"
    if isinstance(v, MeasuredVerdict) and v.low is not None and v.high is not None:
        text += f" [{v.low:.3g}, {v.high:.3g}]"
    if v.threshold is not None:
        text += f" against {v.threshold:.3g}"
    if isinstance(v, MeasuredVerdict) and v.n:
        text += f", n = {v.n}"
    return text
