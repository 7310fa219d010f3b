"""The surprise curve under the token view: each token's entropy and surprisal along the reply, with buttons that
move the token view's pick to the next fork and to the least likely token (ui.service.inside.surprise says what
those are). Token text reaches the chart only as tooltip data, which Vega escapes."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial

import altair as alt
import pandas as pd
import streamlit as st

from simulator.values import Token
from ui.service.inside.surprise import FORK_RATIO, Surprise, surprise_of

ENTROPY, SURPRISAL = "entropy", "surprisal"
COLORS = {ENTROPY: "#1c83e1", SURPRISAL: "#ff4b4b"}
EXPLAINED = (
    f"**Entropy**: how open the model's next-token distribution was (nats). **Surprisal**: −ln p of the token it "
    f"drew. A **fork** (shaded) is a token whose runner-up was at least {FORK_RATIO:.0%} as likely as its favourite."
)
BOUND = "This server returned only its top alternatives: each entropy is a lower bound (the true one is at least this)."
NO_ENTROPY = "This reply was saved before entropy was recorded: only its surprisal is shown."


def _frame(surprise: Surprise, labels: Sequence[str]) -> pd.DataFrame:
    """Long form, one row per token and measure, for a two-line chart with one legend."""
    rows: dict[str, list[object]] = {"i": [], "token": [], "measure": [], "nats": []}
    for measure, values in ((ENTROPY, surprise.entropy), (SURPRISAL, surprise.surprisal)):
        for i, value in enumerate(values):
            if value is not None:
                rows["i"].append(i)
                rows["token"].append(labels[i])
                rows["measure"].append(measure)
                rows["nats"].append(value)
    return pd.DataFrame(rows)


def surprise_chart(surprise: Surprise, labels: Sequence[str], picked: int | None) -> alt.LayerChart:
    """Entropy and surprisal along the reply; forks shaded, the picked token marked by a rule."""
    entropy_title = "entropy ≥ (lower bound)" if surprise.bound else ENTROPY
    data = _frame(surprise, labels).replace({"measure": {ENTROPY: entropy_title}})
    pick = alt.selection_point(name="pick", fields=["i"], on="click", clear=False)
    x = alt.X("i:Q", title="token #", scale=alt.Scale(nice=False), axis=alt.Axis(tickMinStep=1, format="d"))
    y = alt.Y("nats:Q", title="nats")
    color = alt.Color(
        "measure:N",
        scale=alt.Scale(domain=[entropy_title, SURPRISAL], range=[COLORS[ENTROPY], COLORS[SURPRISAL]]),
        legend=alt.Legend(orient="right", title=None),
    )
    base = alt.Chart(data).encode(x=x, y=y, color=color)
    layers: list[alt.Chart] = []
    if surprise.forks:
        forks = pd.DataFrame({"i": surprise.forks})
        layers.append(alt.Chart(forks).mark_rule(color="#faca2b", strokeWidth=6, opacity=0.35).encode(x=x))
    layers += [
        base.mark_line(strokeWidth=1.5),
        base.mark_circle(size=30)
        .encode(
            tooltip=[
                alt.Tooltip("i:Q", title="token #"),
                alt.Tooltip("token:N"),
                alt.Tooltip("measure:N"),
                alt.Tooltip("nats:Q", format=".3f"),
            ]
        )
        .add_params(pick),
    ]
    if picked is not None:
        layers.append(alt.Chart(pd.DataFrame({"i": [picked]})).mark_rule(color="#555555").encode(x=x))
    return alt.LayerChart(layer=layers, height=180)


def _jump(pick_key: str, target: Callable[[int | None], int | None]) -> None:
    """Runs before the script when a button is clicked: the token view then shows the token jumped to."""
    picked = st.session_state.get(pick_key)
    found = target(None if picked is None else int(picked))
    if found is not None:
        st.session_state[pick_key] = found


def _pick_from_chart(chart_key: str, pick_key: str) -> None:
    state = st.session_state.get(chart_key)
    points = state.selection.get("pick") if state is not None else None
    if points:
        st.session_state[pick_key] = int(points[0]["i"])


def surprise_panel(tokens: Sequence[Token], labels: Sequence[str], *, key: str, pick_key: str) -> None:
    """Draw the curve and the two navigation buttons; they (and a click on the curve) set `pick_key`, the token
    view's picked token. `labels` are the tokens as the view shows them (whitespace made visible)."""
    surprise = surprise_of(tokens)
    if surprise.least_likely() is None:
        return
    picked = st.session_state.get(pick_key)
    chart_key = f"{key}-surprise-chart"
    st.altair_chart(
        surprise_chart(surprise, labels, None if picked is None else int(picked)),
        key=chart_key,
        on_select=partial(_pick_from_chart, chart_key, pick_key),
        selection_mode="pick",
        width="stretch",
    )
    forks = surprise.forks
    with st.container(horizontal=True):
        st.button(
            f"Next fork → ({len(forks)} in this reply)",
            key=f"{key}-next-fork",
            disabled=not forks,
            on_click=partial(_jump, pick_key, surprise.next_fork),
            help="Pick the next token where the distribution split: its runner-up nearly as likely as its favourite.",
        )
        st.button(
            "Least likely token",
            key=f"{key}-least-likely",
            on_click=partial(_jump, pick_key, lambda _: surprise.least_likely()),
            help="Pick the token with the largest surprisal: the least likely one the reply took.",
        )
    notes = [EXPLAINED]
    if surprise.bound:
        notes.append(BOUND)
    elif not surprise.has_entropy:
        notes.append(NO_ENTROPY)
    mean = surprise.mean_entropy()
    if mean is not None:
        notes.append(f"Mean entropy {mean:.2f}{' (at least)' if surprise.bound else ''}.")
    st.caption(" ".join(notes))
