# A token tree on a remote lane (a real llama_cpp.server with the bundled gemma): one request per node, and the
# tree it gives has the in-process tree's tokens, in the same order, with close probabilities.

from __future__ import annotations

from collections.abc import Iterator

import pytest

from personas.catalog import load_mask
from personas.mask import HistoryTurn
from simulator.base import drain
from simulator.errors import LaneError
from simulator.registry import ModelEntry, Registry
from simulator.watchdog import Timeouts

pytestmark = [pytest.mark.model, pytest.mark.slow]

DOCUMENT = load_mask("assistant").render([HistoryTurn(role="user", text="What is the capital of France?")])


@pytest.fixture(scope="module")
def remote_registry(gemma_server: str) -> Iterator[Registry]:
    entry = ModelEntry(name="remote-gemma", kind="simulator", api="openai-completions", api_base=gemma_server)
    timeouts = Timeouts(connect=2, first_token=120, stall=20, total=600)
    registry = Registry(n_ctx=1024, n_threads=1, extra=[entry], timeouts=timeouts)
    yield registry
    registry.close()


def test_a_remote_tree_has_the_local_trees_tokens(remote_registry: Registry) -> None:
    remote = remote_registry.simulator(remote_registry.resolve("remote-gemma"))
    local = remote_registry.simulator(remote_registry.resolve("base"))
    far, near = drain(remote.token_tree(DOCUMENT, 2, 2)), drain(local.token_tree(DOCUMENT, 2, 2))
    assert far.document == DOCUMENT and far.count() == 2 + 4
    for got, want in zip(far.children, near.children, strict=True):
        assert got.text == want.text and got.p == pytest.approx(want.p, abs=0.02)
        assert [c.text for c in got.children] == [c.text for c in want.children]
        for child in got.children:
            assert child.path_p == pytest.approx(got.p * child.p)
    with pytest.raises(LaneError, match="k must be between"):
        drain(remote.token_tree(DOCUMENT, 11, 1))
