"""The Leaderboard tab of the Review page: strengths with 95% intervals as a table and an Altair chart, each
question's rate, position bias and agreement between reviewers, and the downloads."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import altair as alt
import pandas as pd
import streamlit as st

from ui.service.errors import USER_ERRORS
from ui.service.review.exports import JUDGEMENT_FORMATS, LEADERBOARD_FORMATS
from ui.service.review.leaderboard import BY, Leaderboard
from ui.service.review.service import FilterChoices, Filters, Review
from ui.web.widgets.view import escape_markdown

_MIME = {"md": "text/markdown", "csv": "text/csv", "json": "application/json", "jsonl": "application/jsonl"}


def strength_chart(board: Leaderboard) -> alt.LayerChart:
    """Each entry's strength as a point with its 95% interval as a bar, strongest on top."""
    frame = pd.DataFrame(
        [
            {"name": e.name, "strength": e.strength, "low": e.low, "high": e.high, "votes": e.votes}
            for e in board.entries
        ]
    )
    order = list(frame["name"])
    y = alt.Y("name:N", sort=order, title=None)
    bars = (
        alt.Chart(frame)
        .mark_rule(strokeWidth=2)
        .encode(y=y, x=alt.X("low:Q", title="Bradley–Terry strength (log scale), 95% interval"), x2="high:Q")
    )
    tooltip = [
        "name",
        alt.Tooltip("strength:Q", format=".3f"),
        alt.Tooltip("low:Q", format=".3f"),
        alt.Tooltip("high:Q", format=".3f"),
        "votes",
    ]
    points = alt.Chart(frame).mark_point(filled=True, size=60).encode(y=y, x="strength:Q", tooltip=tooltip)
    return alt.LayerChart(layer=[bars, points], height=max(120, 28 * len(order)))


def _table(board: Leaderboard) -> pd.DataFrame:
    rows = []
    for rank, e in enumerate(board.entries, start=1):
        row = {
            "rank": rank,
            board.by: e.name,
            "strength": round(e.strength, 3),
            "95% interval": f"{e.low:.3f} – {e.high:.3f}",
            "wins": e.wins,
            "ties": e.ties,
            "losses": e.losses,
        }
        for key, rate in e.questions.items():
            row[key] = "" if rate.rate is None else f"{rate.rate:.2f} ({rate.count}/{rate.trials})"
        rows.append(row)
    return pd.DataFrame(rows)


def _summary(board: Leaderboard) -> None:
    bias, agreement = board.position_bias.left_wins, board.agreement
    if bias.rate is not None:
        st.caption(
            f"Position bias: the left reply won {bias.rate:.1%} of {bias.trials} decisive votes"
            f" (95% interval {bias.low:.1%}–{bias.high:.1%}; 50% is none)."
        )
    if agreement.kappa is not None:
        method = "Cohen's" if agreement.method == "cohen" else "Fleiss'"
        st.caption(
            f"Agreement: {method} kappa {agreement.kappa:.2f} on {agreement.pairs} pairs judged by two reviewers"
            f" or more ({agreement.reviewers} reviewers)."
        )
    else:
        st.caption("Agreement: no pair has been judged by two reviewers yet.")


def _filters(choices: FilterChoices) -> tuple[str, Filters]:
    by_column, reviewer_column, set_column = st.columns(3)
    by = by_column.segmented_control("By", list(BY), default="lane", key="board-by") or "lane"
    reviewer = reviewer_column.selectbox(
        "Only the votes of", choices.reviewers, index=None, placeholder="every reviewer", key="board-reviewer"
    )
    question_set = set_column.selectbox(
        "Question set", choices.question_sets, index=None, placeholder="every set", key="board-set"
    )
    run_column, dates_column = st.columns([2, 1])
    run_labels = dict(choices.runs)
    run_id = run_column.selectbox(
        "Only samples of experiment run",
        list(run_labels),
        index=None,
        format_func=run_labels.__getitem__,
        placeholder="any reply",
        key="board-run",
    )
    days = dates_column.date_input("Votes on these days (UTC)", value=[], format="YYYY-MM-DD", key="board-days")
    since, until = _day_range(days)
    return by, Filters(reviewer=reviewer, question_set=question_set, run_id=run_id, since=since, until=until)


def _day_range(days: object) -> tuple[datetime | None, datetime | None]:
    """From the first day's start to the last day's end, in UTC; one day picked so far is that day alone."""
    picked = [d for d in days if isinstance(d, date)] if isinstance(days, list | tuple) else []
    if not picked:
        return None, None
    first, last = picked[0], picked[-1]
    return (
        datetime.combine(first, time.min, tzinfo=UTC),
        datetime.combine(last + timedelta(days=1), time.min, tzinfo=UTC),
    )


def leaderboard(service: Review) -> None:
    """The Leaderboard tab."""
    try:
        by, filters = _filters(service.filter_choices())
        board = service.leaderboard(by, filters)
        exports = {fmt: service.export(fmt, filters) for fmt in JUDGEMENT_FORMATS}
    except USER_ERRORS as e:
        st.error(escape_markdown(str(e)))
        return
    if not board.entries:
        st.info("No judgements yet: judge a few pairs on the Judge tab.")
        return
    noun = "judgement" if board.judgements == 1 else "judgements"
    st.caption(f"{board.judgements} {noun}; intervals from {board.resamples} bootstrap resamples.")
    if any(e.votes for e in board.entries):
        st.altair_chart(strength_chart(board), width="stretch")
        st.dataframe(_table(board), hide_index=True, width="stretch")
    else:
        st.info(
            f"No strengths yet: every vote here compares two replies of the same {board.by}, and strengths come"
            f" from votes between different ones. Judge pairs from a conversation with several lanes, or group by"
            " another column."
        )
    _summary(board)
    columns = st.columns(len(LEADERBOARD_FORMATS) + len(JUDGEMENT_FORMATS))
    for column, fmt in zip(columns, LEADERBOARD_FORMATS, strict=False):
        column.download_button(
            f"Leaderboard .{fmt}",
            service.export_leaderboard(board, fmt),
            file_name=f"leaderboard.{fmt}",
            mime=_MIME[fmt],
            key=f"board-{fmt}",
        )
    for column, fmt in zip(columns[len(LEADERBOARD_FORMATS) :], JUDGEMENT_FORMATS, strict=True):
        extension = "jsonl" if fmt == "dpo" else fmt
        column.download_button(
            f"Judgements {fmt}",
            exports[fmt],
            file_name=f"judgements-{fmt}.{extension}",
            mime=_MIME[extension],
            key=f"judgements-{fmt}",
        )
