# Token trees (simulator/tree.py) on the bundled gemma-3-270m: every node's p is the probability the in-process
# lane gives that token after that prefix (the document read, then the path decoded token by token, as a reply
# is generated), a node expanded later grows the subtree a deeper tree had, and a tree out of range is refused.

from __future__ import annotations

import numpy as np
import pytest

from personas.catalog import load_mask
from personas.mask import HistoryTurn
from simulator.base import Simulator, drain
from simulator.contexts import read_prompt
from simulator.errors import LaneError
from simulator.registry import Registry
from simulator.tree import TreeNode

pytestmark = pytest.mark.model

DOCUMENT = load_mask("assistant").render([HistoryTurn(role="user", text="What is the capital of France?")])


@pytest.fixture(scope="module")
def base(registry: Registry) -> Simulator:
    simulator = registry.simulator(registry.resolve("base"))
    assert isinstance(simulator, Simulator)
    return simulator


def lane_probabilities(base: Simulator, path: list[int]) -> np.ndarray:
    """The next-token distribution a lane sees after DOCUMENT then `path`, read the way a reply is generated."""
    context = base._new_context("tree-check")
    try:
        drain(read_prompt(context, base.tokenize(DOCUMENT), range(0), last=True))
        for token in path:
            context.decode([token], lambda _: True)
        logits = context.logits(-1).astype(np.float64)
    finally:
        context.close()
    p = np.exp(logits - logits.max())
    return p / p.sum()


def test_every_node_is_the_lanes_own_probability(base: Simulator) -> None:
    tree = drain(base.token_tree(DOCUMENT, 3, 3))
    assert tree.document == DOCUMENT and tree.count() == 3 + 9 + 27
    pending: list[tuple[list[int], list[TreeNode], float]] = [([], tree.children, 1.0)]
    while pending:
        path, children, path_p = pending.pop()
        expected = lane_probabilities(base, path)
        top = np.argsort(-expected)[:3]
        assert [c.token_id for c in children] == [int(i) for i in top]  # the top-k, sorted by p
        for child in children:
            assert child.token_id is not None
            assert abs(child.p - expected[child.token_id]) <= 1e-4
            assert child.path_p == pytest.approx(path_p * child.p)
            if child.children:
                pending.append(([*path, child.token_id], child.children, child.path_p))
    assert tree.coverage() == pytest.approx(sum(leaf.path_p for leaf in tree.leaves()))
    assert 0 < tree.coverage() <= 1


def test_a_node_expanded_later_grows_what_a_deeper_tree_had(base: Simulator) -> None:
    deep = drain(base.token_tree(DOCUMENT, 2, 3))
    shallow = drain(base.token_tree(DOCUMENT, 2, 1))
    node = shallow.children[0]
    grown = drain(base.token_tree(DOCUMENT, 2, 2, path=[node]))
    assert [c.text for c in grown.children] == [c.text for c in deep.children[0].children]
    for got, want in zip(grown.children, deep.children[0].children, strict=True):
        assert got.path_p == pytest.approx(want.path_p, abs=1e-6)
        assert [g.text for g in got.children] == [w.text for w in want.children]


def test_a_threshold_stops_unlikely_paths(base: Simulator) -> None:
    tree = drain(base.token_tree(DOCUMENT, 3, 4, min_path_p=0.1))
    for leaf in tree.leaves():
        assert leaf.path_p < 0.1 or leaf.end or _depth(tree.children, leaf) == 4
    assert tree.count() < 120


@pytest.mark.parametrize(("k", "depth"), [(0, 2), (11, 2), (3, 0), (3, 9)])
def test_out_of_range_is_refused_in_words(base: Simulator, k: int, depth: int) -> None:
    with pytest.raises(LaneError, match="must be between"):
        drain(base.token_tree(DOCUMENT, k, depth))


def _depth(nodes: list[TreeNode], target: TreeNode, level: int = 1) -> int:
    for node in nodes:
        if node is target:
            return level
        if (found := _depth(node.children, target, level + 1)) > 0:
            return found
    return 0
