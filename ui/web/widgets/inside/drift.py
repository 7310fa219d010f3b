"""The drift meter on a page: under a base reply's token view, each token's projection on a stored direction as an
Altair chart with the reply's mean (and the direction's two masks' means when it kept them); per turn in Compare,
one line per base reply with its mean along the direction chosen for the page. Each reading is computed when first
asked for and kept in session state by reply, direction (its numbers' sha256) and layer. Token text reaches the
chart only as tooltip data, which Vega draws as text, never as HTML."""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from ui.service.errors import USER_ERRORS
from ui.service.experiments.jobs import experiment_jobs
from ui.service.experiments.service import Experiments
from ui.service.inside import drift
from ui.service.read_models import Lane, SavedMessage
from ui.service.vectors.service import Vectors
from ui.service.vectors.views import DirectionView
from ui.web import resources
from ui.web.widgets.view import escape_markdown

AXIS_SUITE = "assistant-axis"
NO_DIRECTIONS = f"No direction is stored yet. To make one, {drift.HOW_TO_MAKE_ONE}."
CACHE = "drift-cache"  # (message id, vector sha256, layer) -> drift.Drift, or the one line saying why not
TURN_DIRECTION = "drift-turn-direction"  # the direction Compare shows each reply's mean along, by name
TURN_VIEW = "drift-turn-view"  # that direction as read when the picker was drawn (one query per run, not per reply)
NONE = "(none)"
# The run the Experiments page shows on arrival: its progress.REQUESTED, which the experiments widgets cannot give
# this module (they import the conversation widgets, which import this one).
REQUESTED = "ex-run-requested"
MEAN_COLOR, REFERENCE_COLORS = "#ff4b4b", ("#21c354", "#803df5")

state = st.session_state

# Whitespace as visible symbols, as the token view shows it (not imported from it: the token view imports this).
_VISIBLE = str.maketrans({**{chr(c): chr(0x2400 + c) for c in range(0x20)}, " ": "·", "\t": "→", "\n": "↵", "\r": "␍"})


def directions() -> list[DirectionView] | str:
    """The stored directions (newest of each name), or the one line saying why they cannot be read."""
    try:
        return list(Vectors.of(resources.workspace()).list())
    except USER_ERRORS as e:
        return str(e)


def directions_or_how_to_make_one(*, key: str) -> list[DirectionView]:
    """The stored directions; when they cannot be read, the line saying why, and when there are none, how to make
    one and the button that does (an empty list then)."""
    found = directions()
    if isinstance(found, str):
        st.error(escape_markdown(found))
        return []
    if not found:
        st.caption(escape_markdown(NO_DIRECTIONS))
        compute_axis_button(key=f"{key}-axis")
    return found


def measured(message_id: int, view: DirectionView, layer: int) -> drift.Drift | str:
    """The reply along `view` at `layer`, computed once per session (an error line is kept too: asking again
    would only say it again)."""
    cache: dict[tuple[int, str, int], drift.Drift | str] = state.setdefault(CACHE, {})
    key = (message_id, view.vector_sha256, layer)
    if key not in cache:
        try:
            cache[key] = drift.meter(resources.workspace(), message_id, view.name, layer)
        except USER_ERRORS as e:
            cache[key] = str(e)
    return cache[key]


def drift_chart(result: drift.Drift) -> alt.LayerChart:
    """Projection per token (x the token's index), a dashed rule at the reply's mean and dotted ones at the masks'."""
    frame = pd.DataFrame(
        {
            "i": [t.index for t in result.tokens],
            "token": [t.text.translate(_VISIBLE) or "◌" for t in result.tokens],
            "projection": [t.projection for t in result.tokens],
        }
    )
    x = alt.X("i:Q", title="token #", scale=alt.Scale(nice=False), axis=alt.Axis(tickMinStep=1, format="d"))
    # Not from zero: projections sit far from it (the residual stream's own scale), and their spread is the point.
    y = alt.Y("projection:Q", title=f"layer {result.layer} projection", scale=alt.Scale(zero=False))
    tooltip = [alt.Tooltip("i:Q", title="token #"), alt.Tooltip("token:N"), alt.Tooltip("projection:Q", format=".2f")]
    line = alt.Chart(frame).mark_line(color="#1c83e1", strokeWidth=1.5).encode(x=x, y=y)
    points = alt.Chart(frame).mark_circle(size=40, color="#1c83e1").encode(x=x, y=y, tooltip=tooltip)
    rules = pd.DataFrame(
        [{"what": "this reply's mean", "projection": result.mean}]
        + [{"what": f"{m.mask}'s mean", "projection": m.mean} for m in result.references]
    )
    colors = alt.Scale(domain=list(rules["what"]), range=[MEAN_COLOR, *REFERENCE_COLORS][: len(rules)])
    means = (
        alt.Chart(rules)
        .mark_rule(strokeDash=[6, 3], strokeWidth=1.5)
        .encode(
            y=y,
            color=alt.Color("what:N", scale=colors, legend=alt.Legend(orient="right", title=None)),
            tooltip=[alt.Tooltip("what:N"), alt.Tooltip("projection:Q", format=".2f")],
        )
    )
    return alt.LayerChart(layer=[line, points, means], height=200)


def describe(result: drift.Drift) -> str:
    """One line: the direction, its layer, the reply's mean and, for scale, the masks' means."""
    sense = f" (higher: more like {result.toward})" if result.toward else ""
    best = " (its best)" if result.layer == result.best_layer else f" (its best is {result.best_layer})"
    masks = "; ".join(f"{m.mask}'s replies {m.mean:+.2f}" for m in result.references)
    return (
        f"Reply #{result.message_id} along {result.direction} at layer {result.layer}{best}{sense}: mean"
        f" {result.mean:+.2f} over {len(result.tokens)} tokens" + (f"; {masks}" if masks else "") + "."
    )


def drift_panel(reply: SavedMessage, lane: Lane, *, key: str) -> None:
    """Under a base reply's token view: a toggle, the direction and layer pickers, and the chart (all in a
    container keyed `key`)."""
    if lane.kind != "simulator" or reply.id is None:
        return
    with st.container(key=key):
        on = st.toggle("Drift along a direction", key=f"{key}-on", help="Each token's activation along a direction.")
        if on:
            _drift_body(reply.id, key)


def _drift_body(message_id: int, key: str) -> None:
    found = directions_or_how_to_make_one(key=key)
    if not found:
        return
    by_name = {view.name: view for view in found}
    name = st.selectbox("Direction", list(by_name), key=f"{key}-direction")
    view = by_name[str(name)]
    layer = st.number_input(
        "Layer", 0, int(view.n_layer) - 1, value=int(view.best_layer), step=1, key=f"{key}-layer-{view.vector_sha256}"
    )
    with st.spinner("Reading the reply's activations…"):
        result = measured(message_id, view, int(layer))
    if isinstance(result, str):
        st.error(escape_markdown(result))
        return
    st.caption(escape_markdown(describe(result)))
    st.altair_chart(drift_chart(result), width="stretch")


def compute_axis_button(*, key: str) -> None:
    """Start the assistant-axis suite (it computes and stores the direction) and open its run on Experiments."""
    if not st.button("Compute the assistant axis", key=key, icon=":material/science:"):
        return
    try:
        service = Experiments.of(resources.workspace())
        job = experiment_jobs().start(service, service.suite(AXIS_SUITE))
    except USER_ERRORS as e:
        st.error(escape_markdown(f"Not started: {e}"))
        return
    state[REQUESTED] = job.run_id
    st.switch_page("views/experiments.py")


def turn_direction_picker() -> None:
    """Compare's choice of a direction to show every base reply's mean along (none: no line, nothing computed)."""
    found = directions()
    views = found if isinstance(found, list) else []
    names = [view.name for view in views]
    if state.get(TURN_DIRECTION) not in [NONE, *names]:
        state[TURN_DIRECTION] = NONE
    st.selectbox(
        "Drift per turn",
        [NONE, *names],
        key=TURN_DIRECTION,
        help="Each base reply's mean projection along this direction, at its best layer, under the reply.",
    )
    state[TURN_VIEW] = next((v for v in views if v.name == state[TURN_DIRECTION]), None)
    if not names:
        st.caption(escape_markdown(NO_DIRECTIONS))


def drift_line(reply: SavedMessage, lane: Lane) -> None:
    """Under a base reply: its mean along the direction chosen for the page, computed when first shown."""
    view = state.get(TURN_VIEW)
    if lane.kind != "simulator" or reply.id is None or view is None or not reply.content:
        return
    result = measured(reply.id, view, int(view.best_layer))
    if isinstance(result, str):
        st.caption(escape_markdown(f"drift n/a: {result}"))
        return
    st.markdown(f":orange-badge[{escape_markdown(f'{result.direction} L{result.layer} mean {result.mean:+.2f}')}]")
