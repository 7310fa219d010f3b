# The Compare page under one-turn-at-a-time across app instances (issue 18): while a turn that another app instance
# or `simulacra ask` runs holds the conversation's lease, a message typed here is not sent; the page says why, in
# place, and hands the message back.

from __future__ import annotations

import pytest
from sqlalchemy import Engine, func
from sqlmodel import Session, select
from streamlit.testing.v1 import AppTest

from simulator.registry import Registry
from storage.tables import Message
from tests.support.transcripts import Seed
from ui.service.conversations.service import Conversations

# Opening a conversation asks for the model registry, whose first use loads the bundled models.
pytestmark = pytest.mark.model


def messages(engine: Engine) -> int:
    with Session(engine) as s:
        return int(s.exec(select(func.count()).select_from(Message)).one())


def test_a_turn_running_in_another_instance_keeps_the_message_unsent(
    app: AppTest, seed: Seed, engine: Engine, registry: Registry
) -> None:
    cid, _ = seed.conversation("Colours", "Name a colour", ["Blue"], models=("chat",))
    app.session_state["conversation_id"] = cid
    at = app.run()
    # The test's own engine is another app instance on the same database file.
    with Conversations(engine, registry).hold(cid):
        at.chat_input[0].set_value("Name another colour").run()
        assert not at.exception and not at.error
        assert [w.value for w in at.warning] == [
            f"Conversation {cid} has a turn running elsewhere (another app or `simulacra ask`): wait for it."
            " Not sent; your message:"
        ]
        assert [c.value for c in at.code] == ["Name another colour"]
        assert messages(engine) == 2  # the saved question and reply, nothing more
