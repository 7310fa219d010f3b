"""Who is speaking? under a reply: pick masks, score the reply's text under each, and see the masks ranked by
P(mask | text) and a heat map of where the two likeliest masks part, token by token. The text is drawn by Vega as
SVG text and in a data frame, never as Markdown or HTML."""

from __future__ import annotations

from typing import Any

import altair as alt
import streamlit as st

from personas.catalog import list_masks
from ui.service.conversations.service import Conversations
from ui.service.errors import USER_ERRORS
from ui.service.inside import whois
from ui.service.read_models import Lane, SavedMessage
from ui.web.widgets.view import escape_markdown

DEFAULT_MASKS = ("assistant", "raw", "rogue-ai", "shakespeare")
PER_ROW = 10  # stretches of the heat map on one row


def whois_panel(conversations: Conversations, lane: Lane, reply: SavedMessage, key: str) -> None:
    """The mask picker, the Score button, and the last result for this reply (kept for the browser session)."""
    names = [mask.name for mask in list_masks(conversations.masks_dir)]
    wanted = [lane.mask_name, *DEFAULT_MASKS] if lane.mask_name else list(DEFAULT_MASKS)
    default = [name for name in dict.fromkeys(wanted) if name in names][:4]
    picked = st.multiselect("Masks", names, default=default, key=f"{key}-masks", max_selections=whois.MAX_MASKS)
    if st.button("Score under these masks", key=f"{key}-go", type="primary"):
        try:
            with st.spinner("Reading the reply under each mask…"):
                st.session_state[f"{key}-result"] = whois.reply(conversations, reply.id, picked)
            st.session_state.pop(f"{key}-error", None)
        except USER_ERRORS as e:
            st.session_state[f"{key}-error"] = str(e)
    if error := st.session_state.get(f"{key}-error"):
        st.error(escape_markdown(error))
        return
    result: whois.WhoIs | None = st.session_state.get(f"{key}-result")
    if result is not None:
        show_whois(result, key)


def show_whois(result: whois.WhoIs, key: str) -> None:
    if result.notice:
        st.caption(escape_markdown(result.notice))
    rows = [
        {
            "rank": rank,
            "mask": reading.mask,
            "P(mask | text)": round(reading.posterior, 4),
            "log P(text | mask)": round(reading.logprob, 2),
            "prior": round(reading.prior, 3),
        }
        for rank, reading in enumerate(result.masks, start=1)
    ]
    st.table(rows)  # a plain table: a handful of rows, readable as text (a data frame draws on a canvas)
    if len(result.masks) > 1 and result.heat:
        first, second = result.masks[0].mask, result.masks[1].mask
        st.caption(
            escape_markdown(
                f"Where {first} and {second} part: log P(token | {first}) − log P(token | {second});"
                f" blue favours {first}, red {second}."
            )
        )
        st.altair_chart(heat_chart(result), key=f"{key}-heat", use_container_width=True)


def heat_chart(result: whois.WhoIs) -> alt.LayerChart:
    """The text in rows of PER_ROW stretches, each coloured by its log-likelihood ratio (0 is white)."""
    data: list[dict[str, Any]] = [
        {
            "i": i,
            "row": i // PER_ROW,
            "col": i % PER_ROW,
            "text": cell.text.replace("\n", "↵"),
            "llr": round(cell.llr, 3),
        }
        for i, cell in enumerate(result.heat)
    ]
    bound = max([abs(d["llr"]) for d in data] + [0.1])
    base = alt.Chart(alt.Data(values=data)).encode(
        x=alt.X("col:O", axis=None), y=alt.Y("row:O", axis=None), tooltip=["i:Q", "text:N", "llr:Q"]
    )
    cells = base.mark_rect(stroke="white").encode(
        color=alt.Color(
            "llr:Q",
            title="log-likelihood ratio",
            scale=alt.Scale(scheme="redblue", domain=[-bound, bound], domainMid=0),
        )
    )
    words = base.mark_text(fontSize=12, limit=80).encode(text="text:N")
    rows = max(1, (len(data) + PER_ROW - 1) // PER_ROW)
    return (cells + words).properties(height=28 * rows)
