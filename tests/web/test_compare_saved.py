# The Compare page on conversations saved through repo the way a finished turn saves them (no turn runs here):
# what a new user hit first. A blank message, the annotation form after a save, the reply actions' labels, and
# the mask-fidelity badges of stored replies.

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Engine, func
from sqlmodel import Session, select
from streamlit.testing.v1 import AppTest
from streamlit.testing.v1.element_tree import Block

from simulator.values import SamplingSettings
from storage import repo
from storage.tables import Message
from tests.support.factories import id_of
from tests.support.screen import plain
from tests.support.transcripts import Seed

# Opening a conversation asks for the model registry, whose first use loads the bundled models.
pytestmark = pytest.mark.model

HANDED_BACK = "ended its turn at the user's tag"


def compare(app: AppTest, conversation_id: int | None = None) -> AppTest:
    if conversation_id is not None:
        app.session_state["conversation_id"] = conversation_id
    at = app.run()
    assert not at.exception and not at.error
    return at


def cell(at: AppTest, lane: int) -> Block:
    block = at.main.get_by_key(f"reply-{lane}-0")
    assert isinstance(block, Block)
    return block


def messages(engine: Engine) -> int:
    with Session(engine) as s:
        return int(s.exec(select(func.count()).select_from(Message)).one())


def test_a_blank_message_is_refused_and_nothing_is_saved(app: AppTest, seed: Seed, engine: Engine) -> None:
    at = compare(app)
    at.chat_input[0].set_value("   \n").run()
    assert not at.exception
    assert [w.value for w in at.warning] == [
        "An empty message cannot be sent: write something for the lanes to answer."
    ]
    assert seed.conversations() == 0 and messages(engine) == 0
    assert not [b for b in at.sidebar.button if (b.key or "").startswith("open-")]  # no "(untitled)" either
    assert len([s for s in at.main.selectbox if (s.key or "").endswith("-model")]) == 3  # still the draft

    cid, _ = seed.conversation("Colours", "Name a colour", ["Blue"], models=("chat",))
    at = compare(app, cid)
    at.chat_input[0].set_value("\t \n ").run()
    assert not at.exception
    assert [w.value for w in at.warning] == [
        "An empty message cannot be sent: write something for the lanes to answer."
    ]
    assert messages(engine) == 2  # the saved question and reply, nothing more
    assert [t.value for m in at.main.chat_message if m.name == "user" for t in m.text] == ["Name a colour"]


def test_the_annotation_form_is_empty_again_after_a_save(app: AppTest, seed: Seed) -> None:
    cid, _ = seed.conversation("Colours", "Name a colour", ["Blue"], models=("base",))
    at = compare(app, cid)
    form = "lane0-turn0-annotate-new"
    at.multiselect(key=f"{form}-tags").set_value(["in-character"])
    at.text_input(key=f"{form}-free").set_value("calm")
    at.radio(key=f"{form}-rating").set_value("+1")
    at.text_area(key=f"{form}-note").set_value("a fine colour")
    next(b for b in cell(at, 0).button if b.label == "Add annotation").click().run()
    assert not at.exception and not at.error
    assert "a fine colour" in [c.value for c in cell(at, 0).caption]  # saved, and shown under the reply
    assert at.multiselect(key=f"{form}-tags").value == []
    assert at.text_input(key=f"{form}-free").value == ""
    assert at.radio(key=f"{form}-rating").value == "none"
    assert at.text_area(key=f"{form}-note").value == ""

    # Pressing it again saves nothing twice: an empty form asks for something first.
    next(b for b in cell(at, 0).button if b.label == "Add annotation").click().run()
    assert [w.value for w in cell(at, 0).warning] == ["Pick a tag, a rating or write a note first."]
    assert len([b for b in cell(at, 0).button if "-annotate-delete-" in (b.key or "")]) == 1  # one annotation


def _popovers(block: Block) -> list[Any]:
    found = [block.proto.popover] if block.type == "popover" else []
    for child in block.children.values():
        if isinstance(child, Block):
            found += _popovers(child)
    return found


def test_every_reply_action_says_what_it_does(app: AppTest, seed: Seed) -> None:
    cid, _ = seed.conversation("Colours", "Name a colour", ["Blue", "Red"], models=("base", "chat"))
    at = compare(app, cid)
    for lane, wanted in ((0, ["Annotate", "Details", "Samples", "Per step"]), (1, ["Annotate", "Details"])):
        buttons = [b for b in cell(at, lane).button if (b.key or "").endswith("-regenerate")]
        assert [b.label for b in buttons] == ["Regenerate"]
        assert buttons[0].help  # and a line on what it does
        popovers = [p for p in _popovers(cell(at, lane)) if p.label]
        assert [p.label for p in popovers] == wanted
        assert all(p.help for p in popovers)
        # Who is speaking? on every reply (a chat reply is scored under the masks too); tokens for base replies.
        assert [t.label for t in cell(at, lane).toggle] == (
            ["Who is speaking?", "Tokens"] if lane == 0 else ["Who is speaking?"]
        )
        assert all(t.help for t in cell(at, lane).toggle)
    assert not [p for lane in (0, 1) for p in _popovers(cell(at, lane)) if not p.label]  # no bare icons


def _reply(s: Session, cid: int, lane_id: int, parent_id: int, content: str, metrics: dict[str, Any]) -> None:
    reply = repo.start_reply(session=s, conversation_id=cid, lane_id=lane_id, parent_id=parent_id, prompt="")
    repo.finish_reply(
        session=s,
        message_id=id_of(reply.id),
        content=content,
        tokens=None,
        status="complete",
        finish_reason="length" if metrics["ended_by"] == "length" else "stop",
        error=None,
        ttft_ms=10.0,
        total_ms=50.0,
        tokens_per_s=40.0,
        seed=1,
        metrics=metrics,
    )


def _lanes_with_metrics(engine: Engine, ends: list[dict[str, Any]]) -> int:
    """One base lane per entry of `ends`, each with one reply to the same message, stored with those metrics."""
    with Session(engine) as s:
        cid = id_of(repo.create_conversation(session=s, title="Endings").id)
        user = repo.add_user_message(session=s, conversation_id=cid, parent_id=None, content="Name a colour")
        for position, metrics in enumerate(ends):
            mask = "raw" if metrics.get("in_character_p") is None else "assistant"
            lane = repo.add_lane(
                session=s,
                conversation_id=cid,
                position=position,
                label=f"base@{mask} {position}",
                kind="simulator",
                model="base",
                mask_name=mask,
                mask_snapshot=None,
                system_prompt=None,
                settings=SamplingSettings(temperature=0.0, max_tokens=16, seed=1),
            )
            _reply(s, cid, id_of(lane.id), id_of(user.id), f"Blue {position}.", metrics)
        return cid


def test_a_reply_that_stopped_on_the_users_tag_ended_its_turn_and_is_no_warning(app: AppTest, engine: Engine) -> None:
    cid = _lanes_with_metrics(
        engine,
        [
            {"ended_by": "natural", "perplexity": 3.0},  # the raw mask: no speaker tags at all
            {"ended_by": "length", "perplexity": 3.0},
            {"ended_by": "user_turn", "spoke_for_user": True, "in_character_p": 0.9},
            {"ended_by": "natural", "in_character_p": 0.9},
            # An imported file's flag that its own ending contradicts: the ending decides.
            {"ended_by": "natural", "spoke_for_user": True, "in_character_p": 0.9},
        ],
    )
    at = compare(app, cid)
    shown = [plain(m.value) for m in at.main.markdown] + [plain(c.value) for c in at.main.caption]
    # Stopping where "User:" begins is how a transcript turn ends: a plain ending, never the orange warning that
    # the reply "began the user's turn" (which every ordinary assistant reply used to wear).
    assert not [text for text in shown if "began the user's turn" in text or "orange-badge" in text], shown
    assert [text for text in shown if HANDED_BACK in text] == [
        f":violet-badge[in character 0.90] :gray-badge[{HANDED_BACK}]",  # the reply that stopped on the tag
        f"in character 0.90 avg · {HANDED_BACK} 1/1",  # and its lane's header; no other lane's
    ], shown
    for lane, ending in ((0, "natural"), (1, "length"), (3, "natural"), (4, "natural")):
        assert any(f"ended: {ending}" in m.value for m in cell(at, lane).markdown), lane
