# Token trees through the service, on the bundled models and a real SQLite file: a tree grown from a saved reply's
# token reads exactly the reply's document plus its first tokens, a node expands further in place, a leaf continues
# as a saved branch whose first tokens are the leaf's path (and replays the same), and two masks' trees on one
# message report where their most likely paths part.

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlmodel import Session

from simulator.registry import Registry
from simulator.values import SamplingSettings
from storage.db import make_engine
from storage.tables import Message
from ui.service.conversations.service import Conversations, LaneSpec, TurnUpdate
from ui.service.inside.trees import Trees

pytestmark = pytest.mark.model

GREEDY = SamplingSettings(temperature=0.0, max_tokens=10, seed=1)


@pytest.fixture
def service(tmp_path: Path, registry: Registry) -> Iterator[Conversations]:
    engine = make_engine(f"sqlite:///{tmp_path / 'simulacra.db'}")
    yield Conversations(engine, registry)
    engine.dispose()


def finals(updates: Iterator[TurnUpdate]) -> list[TurnUpdate]:
    done = [u for u in updates if u.event.kind in ("done", "error")]
    assert all(u.event.kind == "done" for u in done), [u.event.error for u in done]
    return done


def test_a_leaf_of_a_reply_tree_continues_as_a_branch(service: Conversations) -> None:
    trees = Trees(service)
    cid = service.create([LaneSpec(model="base", mask="assistant", settings=GREEDY)])
    [original] = finals(service.send(cid, "Tell me about the Moon."))
    assert original.message_id is not None
    with Session(service.engine) as session:
        saved = session.get(Message, original.message_id)
        assert saved is not None
        document = saved.prompt
    at = 2
    view = trees.from_reply(original.message_id, at, 2, 1)
    assert view.tree.document == f"{document}{''.join(t.text for t in original.reply.tokens[:at])}"

    grown = trees.expand(view, [1], 2, 2)  # the second most likely token, two more levels
    assert grown.tree.count() == 2 + 2 + 4 and view.tree.count() == 2
    leaf_address = [1, 0, 1]
    path = grown.path(leaf_address)
    assert not path[-1].children and not any(n.end for n in path)

    [branched] = finals(trees.run_plan(trees.plan_leaf(grown, leaf_address)))

    tokens = branched.reply.tokens
    assert [t.text for t in tokens[:at]] == [t.text for t in original.reply.tokens[:at]]
    assert [t.text for t in tokens[at : at + 3]] == [n.text for n in path]
    with Session(service.engine) as session:
        row = session.get(Message, branched.message_id)
        assert row is not None
        assert (row.diverged_from_id, row.diverged_at, row.parent_id) == (original.message_id, at + 2, saved.parent_id)
    [replayed] = finals(service.replay(branched.message_id or 0))
    assert replayed.reply.text == branched.reply.text


def test_two_masks_trees_part_at_a_depth(service: Conversations) -> None:
    compared = Trees(service).compare(["base@assistant", "base@raw"], "What is the capital of France?", 2, 2)
    assert [v.lane for v in compared.views] == ["base@assistant", "base@raw"]
    assert compared.views[0].tree.document != compared.views[1].tree.document
    assert compared.parting_depth == 1  # the assistant answers; the raw document goes on as the user
