# The multiverse through the Conversations service, on the real bundled models and a real SQLite file:
# regenerated replies and edited messages become siblings, the selected path decides what every view and
# the next turn follow, samples get their own seeds, a token branch keeps the original's first tokens,
# and a replay repeats a reply exactly.

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlmodel import Session

from simulator.registry import Registry
from simulator.values import SamplingSettings, Token
from storage.db import make_engine
from storage.tables import Message
from ui.service.conversations.service import Conversations, LaneSpec, TurnUpdate, reply_choice, user_choice

pytestmark = pytest.mark.model

GREEDY = SamplingSettings(temperature=0.0, max_tokens=12, seed=1)
WARM = SamplingSettings(temperature=1.0, max_tokens=16)


@pytest.fixture
def service(tmp_path: Path, registry: Registry) -> Iterator[Conversations]:
    engine = make_engine(f"sqlite:///{tmp_path / 'simulacra.db'}")
    yield Conversations(engine, registry)
    engine.dispose()


def finals(updates: Iterator[TurnUpdate]) -> list[TurnUpdate]:
    done = [u for u in updates if u.event.kind in ("done", "error")]
    assert all(u.event.kind == "done" for u in done), [u.event.error for u in done]
    return sorted(done, key=lambda u: u.position)


def message(service: Conversations, message_id: int | None) -> Message:
    assert message_id is not None
    with Session(service.engine) as session:
        found = session.get(Message, message_id)
    assert found is not None
    return found


def test_regenerated_replies_are_siblings_and_the_selection_picks_one(service: Conversations) -> None:
    cid = service.create([LaneSpec(model="base", mask="assistant", settings=WARM)])
    [first] = finals(service.send(cid, "Name a colour."))
    [lane] = service.lanes(cid)
    assert lane.id is not None
    [turn] = service.path(cid)
    assert turn.user.id is not None
    [second] = finals(service.regenerate(cid, turn.user.id, lane.id))

    [turn] = service.path(cid)
    assert [m.id for m in turn.reply_versions[lane.id]] == [first.message_id, second.message_id]
    assert turn.replies[lane.id].id == second.message_id  # the newest, unless the user picks another
    picked = {reply_choice(turn.user.id, lane.id): first.message_id or 0}
    assert service.path(cid, picked)[0].replies[lane.id].id == first.message_id

    # The next turn continues from the picked reply: the base lane's document contains it, not the other.
    [reply] = finals(service.send(cid, "And another?", selection=picked))
    document = message(service, reply.message_id).prompt
    assert isinstance(document, str)
    assert first.reply.text.strip() in document
    if second.reply.text.strip() not in first.reply.text:  # " Red" after " Red." cannot tell them apart
        assert second.reply.text.strip() not in document


def test_an_edited_message_starts_a_branch_and_the_old_one_can_be_continued(service: Conversations) -> None:
    cid = service.create([LaneSpec(model="base", mask="assistant", settings=GREEDY)])
    finals(service.send(cid, "What is the capital of France?"))
    finals(service.send(cid, "And of Spain?"))
    original = service.path(cid)
    [edited] = finals(service.send(cid, "What is the capital of Italy?", replacing=0))

    turns = service.path(cid)
    assert [t.user.content for t in turns] == ["What is the capital of Italy?"]
    assert [m.content for m in turns[0].user_versions] == [
        "What is the capital of France?",
        "What is the capital of Italy?",
    ]
    assert message(service, edited.message_id).parent_id == turns[0].user.id
    # The old branch is still there, whole, and continuing it keeps it.
    old = {user_choice(None): original[0].user.id or 0}
    assert [t.user.content for t in service.path(cid, old)] == ["What is the capital of France?", "And of Spain?"]
    finals(service.send(cid, "And of Portugal?", selection=old))
    assert [t.user.content for t in service.path(cid, old)][-1] == "And of Portugal?"


def test_samples_have_their_own_seeds_and_texts(service: Conversations) -> None:
    cid = service.create([LaneSpec(model="base", mask="forum", settings=WARM)])
    drawn = finals(service.send(cid, "What is your favourite book?", samples=4))
    assert len(drawn) == 4
    seeds = [message(service, u.message_id).seed for u in drawn]
    assert None not in seeds and len(set(seeds)) == 4, seeds
    assert len({u.reply.text for u in drawn}) == 4, [u.reply.text for u in drawn]
    [lane] = service.lanes(cid)
    assert lane.id is not None
    assert len(service.path(cid)[0].reply_versions[lane.id]) == 4


def test_a_token_branch_keeps_the_first_tokens_then_the_chosen_one(service: Conversations) -> None:
    cid = service.create([LaneSpec(model="base", mask="assistant", settings=GREEDY)])
    [original] = finals(service.send(cid, "Tell me about the Moon."))
    tokens = original.reply.tokens
    at = 3
    assert len(tokens) > at
    choice = next(alt for alt in tokens[at].top if alt.text != tokens[at].text)
    [branched] = finals(service.branch(original.message_id or 0, at, Token(text=choice.text, p=choice.p)))

    new = branched.reply.tokens
    assert [t.text for t in new[:at]] == [t.text for t in tokens[:at]]
    assert new[at].text == choice.text
    # The same position weighs the same alternatives (as stored: probabilities are rounded there).
    assert [a.text for a in new[at].top] == [a.text for a in tokens[at].top]
    assert [a.p for a in new[at].top] == pytest.approx([a.p for a in tokens[at].top], abs=1e-3)
    saved = message(service, branched.message_id)
    assert (saved.diverged_from_id, saved.diverged_at) == (original.message_id, at)
    assert saved.parent_id == message(service, original.message_id).parent_id  # a sibling
    assert saved.content.startswith("".join(t.text for t in tokens[:at]) + choice.text)


def test_replay_repeats_a_sampled_reply_exactly(service: Conversations) -> None:
    cid = service.create([LaneSpec(model="base", mask="interview", settings=WARM)])
    [original] = finals(service.send(cid, "What did you do yesterday?"))
    [replayed] = finals(service.replay(original.message_id or 0))
    first, again = message(service, original.message_id), message(service, replayed.message_id)
    assert first.seed is not None and again.seed == first.seed
    assert again.model_sha256 and again.model_sha256 == first.model_sha256
    assert again.content == first.content and again.content.strip()
