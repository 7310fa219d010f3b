"""Masks' token trees side by side: the same user message read by one base model under 2–4 masks, each mask's
top-k tree drawn in its own column, and the first depth at which their most likely paths part. It reuses the
single tree's DOT drawing and escaping (tree.py): tokens are model output and reach the page only as escaped
DOT strings or escaped Markdown."""

from __future__ import annotations

import streamlit as st

from ui.service.errors import USER_ERRORS
from ui.service.inside.trees import MAX_DEPTH, MAX_K, TreeComparison, Trees, TreeView
from ui.web.widgets.inside.tree import tree_dot, visible
from ui.web.widgets.view import escape_markdown

MIN_MASKS, MAX_MASKS = 2, 4


def parting_caption(comparison: TreeComparison) -> str:
    """Where the top paths part and each mask's most likely token there, as escaped Markdown."""
    depth, parting = comparison.views[0].tree.depth, comparison.parting_depth
    if parting is None:
        return f"Their most likely paths never part within depth {depth}."
    tokens = ", ".join(f"{_top_token(view, parting)} ({view.lane})" for view in comparison.views)
    return escape_markdown(f"Their most likely paths first part at depth {parting} (of {depth}): {tokens}.")


def _top_token(view: TreeView, depth: int) -> str:
    """The most likely path's token at `depth` (1-based), shown as the tree shows it; ∅ where the path stops."""
    children, node = view.tree.children, None
    for _ in range(depth):
        if not children:
            return "∅"
        node = children[0]
        children = node.children
    assert node is not None
    return "end of text" if node.end else visible(node.text)


def compare_trees_panel(
    trees: Trees, model: str, prompt: str, mask_names: list[str], own: str | None, *, key: str
) -> None:
    """Under a base reply's token view: the trees of `model` under 2–4 masks picked from `mask_names` (the lane's
    own mask `own` preselected), each after `prompt`, the user message the reply answers, as a new conversation."""
    result_key = f"{key}-result"
    with st.container(horizontal=True, vertical_alignment="bottom"):
        picked = st.multiselect(
            "Compare with masks",
            mask_names,
            default=[own] if own in mask_names else [],
            key=f"{key}-masks",
            help=f"{MIN_MASKS} to {MAX_MASKS} masks: each one's tree on this user message, side by side",
        )
        k = st.number_input("k (children)", 1, MAX_K, 3, key=f"{key}-k")
        depth = st.number_input("depth", 1, MAX_DEPTH, 3, key=f"{key}-depth")
        clicked = st.button("Compare trees", key=f"{key}-go")
    if clicked:
        st.session_state.pop(result_key, None)
        if not MIN_MASKS <= len(picked) <= MAX_MASKS:
            st.error(f"Pick {MIN_MASKS} to {MAX_MASKS} masks to compare their trees, not {len(picked)}.")
            return
        try:
            lanes = [f"{model}@{name}" for name in picked]
            st.session_state[result_key] = (prompt, trees.compare(lanes, prompt, int(k), int(depth)))
        except USER_ERRORS as e:
            st.error(escape_markdown(str(e)))
            return
    stored = st.session_state.get(result_key)
    if stored is None or stored[0] != prompt:  # another message's comparison is not this one's
        return
    _draw(stored[1])


def _draw(comparison: TreeComparison) -> None:
    st.caption(parting_caption(comparison))
    for column, view in zip(st.columns(len(comparison.views)), comparison.views, strict=True):
        with column:
            st.markdown(f"**{escape_markdown(view.lane)}**")
            st.caption(f"{view.tree.count()} nodes; the leaves cover {view.tree.coverage():.1%} of the probability.")
            st.graphviz_chart(tree_dot(view))
