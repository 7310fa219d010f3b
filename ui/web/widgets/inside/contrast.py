"""Two masks compared per step, under a reply: KL(A‖B) at every token and the overlap of the two top-k, as an Altair
chart (token text only in tooltips and axis labels, which Vega draws as text, never as HTML)."""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from ui.service.errors import USER_ERRORS
from ui.service.inside import contrast
from ui.service.read_models import Lane, SavedMessage
from ui.web import resources
from ui.web.widgets.view import escape_markdown

OWN_CONTRAST = "its contrast mask"


def step_chart(comparison: contrast.Comparison) -> alt.VConcatChart:
    """KL(A‖B) per token as bars, and the top-k overlap per token as a line beneath, on the same steps."""
    frame = pd.DataFrame(
        [
            {
                "step": s.index,
                "token": s.text,
                "kl": s.kl,
                "overlap": s.overlap,
                "a": ", ".join(c.text for c in s.top_a),
                "b": ", ".join(c.text for c in s.top_b),
            }
            for s in comparison.steps
        ]
    )
    x = alt.X("step:O", title="token of the reply (hover for its text and both top-k)")
    tooltip = ["step", "token", alt.Tooltip("kl:Q", format=".3f"), alt.Tooltip("overlap:Q", format=".2f"), "a", "b"]
    kl = alt.Chart(frame).mark_bar().encode(x=x, y=alt.Y("kl:Q", title="KL(A‖B), nats"), tooltip=tooltip)
    overlap = (
        alt.Chart(frame)
        .mark_line(point=True)
        .encode(
            x=x,
            y=alt.Y("overlap:Q", title=f"top-{comparison.k} overlap", scale=alt.Scale(domain=[0, 1])),
            tooltip=tooltip,
        )
    )
    return alt.vconcat(kl.properties(height=140), overlap.properties(height=100))


def show_comparison(comparison: contrast.Comparison) -> None:
    st.caption(
        escape_markdown(
            f"A = {comparison.mask_a}, B = {comparison.mask_b}, reading reply #{comparison.message_id}:"
            f" mean KL {comparison.mean_kl:.3f} nats, mean top-{comparison.k} overlap"
            f" {comparison.mean_overlap:.2f}. {comparison.basis}."
        )
    )
    st.altair_chart(step_chart(comparison), width="stretch")


def compare_control(key: str, reply: SavedMessage, lane: Lane) -> None:
    """Pick mask B (by default a contrast reply's own) and top-k, compare, and show the last comparison made here."""
    mask_names = [mask.name for mask in resources.masks()]
    options = ([OWN_CONTRAST] if reply.contrast is not None else []) + [m for m in mask_names if m != lane.mask_name]
    choice = st.selectbox("Compare with mask", options, key=f"{key}-steps-mask")
    k = st.number_input("Top-k", 1, contrast.MAX_TOP_K, value=5, key=f"{key}-steps-k")
    result_key = f"{key}-steps-result"
    if st.button("Compare per step", key=f"{key}-steps-go"):
        try:
            other = None if choice == OWN_CONTRAST else choice
            st.session_state[result_key] = contrast.reply(resources.workspace(), reply.id, other, k=int(k))
        except USER_ERRORS as e:
            st.error(escape_markdown(str(e)))
    found = st.session_state.get(result_key)
    if isinstance(found, contrast.Comparison) and found.message_id == reply.id:
        show_comparison(found)
