"""`simulacra tree`: the top-k token tree after a saved base reply's first N tokens, or after a new user message on
one base lane (2–4 lanes: their trees side by side, and the depth where their most likely paths part)."""

from __future__ import annotations

import json
from collections.abc import Sequence

import click

from ui.cli.common import USER_ERRORS, fail, workspace
from ui.service.inside.trees import MAX_DEPTH, MAX_K, TreeNode, Trees, TreeView


@click.command("tree")
@click.argument("target")
@click.option("--at", "at", type=int, default=None, help="Start after the reply's first N tokens (0: before them).")
@click.option(
    "--lane",
    "lanes",
    multiple=True,
    metavar="MODEL@MASK",
    help="Start from a new user message TARGET on this base lane; give 2–4 lanes to compare their trees.",
)
@click.option("-k", "k", type=int, default=3, show_default=True, help=f"Children per node (1–{MAX_K}).")
@click.option("--depth", type=int, default=3, show_default=True, help=f"Levels below the start (1–{MAX_DEPTH}).")
@click.option("--min-p", "min_p", type=float, default=0.0, help="Do not expand a node whose path p is below this.")
@click.option("--json", "as_json", is_flag=True, help="Print the document and the nested nodes as JSON.")
def tree(target: str, at: int | None, lanes: Sequence[str], k: int, depth: int, min_p: float, as_json: bool) -> None:
    """The token tree at TARGET: a reply's MESSAGE_ID with --at N, or a prompt with --lane base@MASK."""
    trees = Trees(workspace().conversations)
    try:
        if lanes:
            if at is not None:
                fail("--at starts a tree inside a saved reply; with --lane, TARGET is a new user message")
            if len(lanes) > 1:
                comparison = trees.compare(lanes, target, k, depth)
                _print(comparison.views, as_json, comparison.as_json(), comparison.parting_depth)
                return
            view = trees.from_prompt(lanes[0], target, k, depth, min_p)
        else:
            if not target.isdigit() or at is None:
                fail("give a reply's MESSAGE_ID and --at N, or --lane base@MASK and a prompt")
            view = trees.from_reply(int(target), at, k, depth, min_p)
    except USER_ERRORS as e:
        fail(str(e))
    _print([view], as_json, view.as_json(), None)


def _print(views: list[TreeView], as_json: bool, data: object, parting: int | None) -> None:
    if as_json:
        click.echo(json.dumps(data, ensure_ascii=False, indent=2))
        return
    for view in views:
        shape = view.tree
        click.echo(f"{view.lane}: k={shape.k}, depth {shape.depth}, {shape.count()} nodes")
        click.echo(f"the leaves cover {shape.coverage():.1%} of the probability" + (" (cut short)" * shape.truncated))
        for node in shape.children:
            _print_node(node, 0)
        click.echo("")
    if len(views) > 1:
        parted = f"at depth {parting}" if parting else "nowhere within this depth"
        click.echo(f"their most likely paths part {parted}")


def _print_node(node: TreeNode, level: int) -> None:
    text = "[end of text]" if node.end else json.dumps(node.text, ensure_ascii=False)
    click.echo(f"{'  ' * level}{text}  p {node.p:.4f}  path {node.path_p:.4f}")
    for child in node.children:
        _print_node(child, level + 1)
