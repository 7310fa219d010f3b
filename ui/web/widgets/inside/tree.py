"""A token tree under the token view: "Expand from here" grows the top-k tree at the picked token, drawn with
graphviz; any node can be expanded further and any leaf continued as a branch. Node labels are model output, so
they reach DOT only as escaped quoted strings (no HTML labels, no record fields), and the page only as escaped
Markdown."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import streamlit as st

from ui.service.errors import USER_ERRORS
from ui.service.inside.trees import MAX_DEPTH, MAX_K, TreeNode, Trees, TreeView
from ui.web.widgets.view import escape_markdown

# Whitespace and control characters as visible symbols, as the token view shows them (not imported from it: the
# token view's widgets import this one).
_VISIBLE = str.maketrans({**{chr(c): chr(0x2400 + c) for c in range(0x20)}, " ": "·", "\t": "→", "\n": "↵", "\r": "␍"})
MAX_LABEL = 24  # characters of a token shown in a node; a long one is cut with …


@dataclass(frozen=True)
class LeafRequest:
    """Continue the reply the tree grew from with the path to the node at `address`."""

    view: TreeView
    address: tuple[int, ...]


def visible(text: str) -> str:
    return text.translate(_VISIBLE).replace("\x7f", "␡") if text else "◌"


def dot_text(text: str) -> str:
    """`text` (already `visible`: no control character or newline left raw) for inside a DOT quoted string:
    backslashes and quotes escaped, so no token can close the string or make graphviz substitute an escape."""
    return text.replace("\\", "\\\\").replace('"', '\\"')


def _label(node: TreeNode) -> str:
    shown = "⏹ end of text" if node.end else visible(node.text)
    shown = shown if len(shown) <= MAX_LABEL else shown[: MAX_LABEL - 1] + "…"
    return f'"{dot_text(shown)}\\np {node.p:.3f} · path {node.path_p:.3f}"'


def tree_dot(view: TreeView) -> str:
    """The tree as a DOT graph, left to right, the start on the left; each node's id is its address."""
    lines = ["digraph tree {", "rankdir=LR;", 'node [shape=box, fontname="monospace", fontsize=10];']
    lines.append(f'start [label="{"after token " + str(view.at) if view.at is not None else "start"}"];')

    def add(nodes: list[TreeNode], parent: str, address: tuple[int, ...]) -> None:
        for i, node in enumerate(nodes):
            here = (*address, i)
            name = "n" + "_".join(map(str, here))
            lines.append(f"{name} [label={_label(node)}];")
            lines.append(f"{parent} -> {name};")
            add(node.children, name, here)

    add(view.tree.children, "start", ())
    lines.append("}")
    return "\n".join(lines)


def _addresses(nodes: list[TreeNode], address: tuple[int, ...] = ()) -> list[tuple[tuple[int, ...], TreeNode]]:
    found = []
    for i, node in enumerate(nodes):
        found.append(((*address, i), node))
        found += _addresses(node.children, (*address, i))
    return found


def tree_panel(trees: Trees, message_id: int, at: int | None, *, key: str) -> LeafRequest | None:
    """Under the token view of reply `message_id`: grow a tree at token `at`, expand its nodes, and return a
    LeafRequest in the run where the user asked to continue a leaf as a branch."""
    view_key = f"{key}-view"
    view: TreeView | None = st.session_state.get(view_key)
    if view is not None and (view.message_id != message_id or view.at != at):
        view = None
    if at is None:
        return None
    with st.container(horizontal=True, vertical_alignment="bottom"):
        k = st.number_input("k (children)", 1, MAX_K, 3, key=f"{key}-k")
        depth = st.number_input("depth", 1, MAX_DEPTH, 3, key=f"{key}-depth")
        if st.button("Expand from here", key=f"{key}-grow", help="The most likely continuations from this token"):
            view = _try(lambda: trees.from_reply(message_id, at, int(k), int(depth)))
            st.session_state[view_key] = view
    if view is None:
        return None
    st.caption(f"{view.tree.count()} nodes; the leaves cover {view.tree.coverage():.1%} of the probability.")
    st.graphviz_chart(tree_dot(view))
    choices = _addresses(view.tree.children)
    picked = st.selectbox(
        "Node",
        range(len(choices)),
        format_func=lambda i: _choice_label(*choices[i]),
        key=f"{key}-node",
    )
    if picked is None:
        return None
    address, node = choices[picked]
    with st.container(horizontal=True):
        if st.button("Expand this node", key=f"{key}-expand", disabled=node.end, help="One level deeper below it"):
            grown = _try(lambda: trees.expand(view, address, int(k), min(MAX_DEPTH, _height(node) + 1)))
            if grown is not None:
                st.session_state[view_key] = grown
                st.rerun()
        if st.button("Continue as a branch", key=f"{key}-continue", disabled=node.end):
            return LeafRequest(view=view, address=address)
    return None


def _height(node: TreeNode) -> int:
    """Levels below `node`: expanding it grows one more than it has."""
    return 1 + max(map(_height, node.children)) if node.children else 0


def _choice_label(address: tuple[int, ...], node: TreeNode) -> str:
    shown = "end of text" if node.end else visible(node.text)
    return f"{'.'.join(str(i + 1) for i in address)}  {shown}  (p {node.p:.3f}, path {node.path_p:.3f})"


def _try(grow: Callable[[], TreeView]) -> TreeView | None:
    try:
        return grow()
    except USER_ERRORS as e:
        st.error(escape_markdown(str(e)))
        return None
