"""The Masks page: the library, and what a mask really does ("lift the mask"): the exact document a
simulator continues, next to the message list a chat lane gets for the same user message."""

from __future__ import annotations

import json

import streamlit as st

from personas.catalog import user_mask_problems
from personas.mask import HistoryTurn
from ui import resources
from ui.view import escape_markdown


def render() -> None:
    current = resources.settings()
    masks = resources.masks(current)
    st.title("Masks")
    st.caption(escape_markdown(f"Built-in masks, then your own from {current.resolved_masks_dir}"))
    for problem in user_mask_problems(current.resolved_masks_dir):
        st.warning(escape_markdown(str(problem)))
    st.dataframe(
        [{"name": m.name, "shows": m.shows, "description": m.description} for m in masks],
        hide_index=True,
        width="stretch",
    )
    by_name = {mask.name: mask for mask in masks}
    name = st.selectbox("Mask", list(by_name), index=list(by_name).index("assistant") if "assistant" in by_name else 0)
    if name is None:
        return
    mask = by_name[name]
    user_text = st.text_area("Sample user message", value="What is the capital of France?", height=80)
    history = [HistoryTurn(role="user", text=user_text)]
    left, right = st.columns(2)
    with left:
        st.markdown("**What the simulator reads** (it continues this document)")
        st.code(mask.render(history), language=None, wrap_lines=True)
        stops = mask.stop_sequences()
        st.caption("Stops at: " + (", ".join(escape_markdown(repr(s)) for s in stops) if stops else "max tokens only"))
    with right:
        st.markdown("**What a chat lane gets** (the same persona as messages)")
        st.code(json.dumps(mask.as_messages(history), ensure_ascii=False, indent=2), language="json", wrap_lines=True)


render()
