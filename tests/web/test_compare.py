# A real turn on the Compare page: the bundled models at temperature 0 with a fixed seed, a fresh SQLite
# file, and the same page reopening what it saved.

from __future__ import annotations

import re

import pytest
from streamlit.testing.v1 import AppTest
from streamlit.testing.v1.element_tree import Block

from tests.support.screen import plain, reply_text
from ui.web.widgets.view import OTHER_MODEL

pytestmark = pytest.mark.model

QUESTION = "What is the capital of France?"


def lean_lanes(at: AppTest, count: int = 3) -> None:
    for uid in range(count):
        at.slider(key=f"draft-{uid}-temperature").set_value(0.0)
        at.number_input(key=f"draft-{uid}-max_tokens").set_value(24)
        at.number_input(key=f"draft-{uid}-seed").set_value(1)


def reply(at: AppTest, lane: int, turn: int = 0) -> Block:
    block = at.main.get_by_key(f"reply-{lane}-{turn}")
    assert isinstance(block, Block)
    return block


def text_in(at: AppTest, lane: int, turn: int = 0) -> str:
    return reply_text(reply(at, lane, turn))


def test_one_message_reaches_every_lane_and_the_conversation_reopens(app: AppTest) -> None:
    at = app.run()
    lean_lanes(at)
    at.chat_input[0].set_value(QUESTION).run(timeout=180)
    assert not at.exception
    assert not at.error
    replies = [text_in(at, lane) for lane in range(3)]
    assert all(text.strip() for text in replies), replies
    assert "Paris" in replies[1]  # base@assistant: the mask's few-shot frame summons a factual answer
    # One user message per turn, above the lanes: it is the same message in every lane.
    assert [t.value for m in at.main.chat_message if m.name == "user" for t in m.text] == [QUESTION]
    captions = [c.value for lane in range(3) for c in reply(at, lane).caption]
    assert all(c.startswith("complete · first token") for c in captions), captions

    saved = [b for b in at.sidebar.button if (b.key or "").startswith("open-")]
    assert [plain(b.label) for b in saved] == [QUESTION]

    at.sidebar.button[0].click().run()  # New conversation: back to a draft
    assert not at.exception
    assert len([s for s in at.main.selectbox if (s.key or "").endswith("-model")]) == 3
    with pytest.raises(KeyError):
        at.main.get_by_key("reply-0-0")

    next(b for b in at.sidebar.button if (b.key or "").startswith("open-")).click().run()
    assert not at.exception
    assert [text_in(at, lane) for lane in range(3)] == replies

    next(b for b in at.main.button if b.label == "New conversation with these lanes").click().run()
    assert not at.exception
    assert [s.value for s in at.main.selectbox if (s.key or "").endswith("-mask")] == ["raw", "assistant", "(none)"]
    assert [s.value for s in at.main.slider] == [0.0, 0.0, 0.0]


def test_a_lane_without_its_api_key_fails_in_place_while_the_others_answer(
    app: AppTest, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    at = app.run()
    at.selectbox(key="draft-1-model").set_value(OTHER_MODEL).run()
    at.text_input(key="draft-1-litellm").set_value("openai/gpt-4o-mini")
    lean_lanes(at)
    at.chat_input[0].set_value(QUESTION).run(timeout=180)
    assert not at.exception
    errors = [plain(e.value) for e in reply(at, 1).error]
    assert len(errors) == 1 and "OPENAI_API_KEY" in errors[0], errors
    assert [plain(e.value) for e in at.error] == errors  # nowhere else
    assert text_in(at, 0).strip() and text_in(at, 2).strip()


def test_untrusted_text_is_never_rendered_as_markdown_and_lanes_can_be_added_later(app: AppTest) -> None:
    at = app.run()
    at.button(key="remove-0").click().run()
    at.button(key="remove-1").click().run()  # only the chat lane is left: one short reply is enough
    at.number_input(key="draft-2-max_tokens").set_value(4)
    at.slider(key="draft-2-temperature").set_value(0.0)
    hostile = "![pixel](http://127.0.0.1:9/track.png) <img src=x onerror=alert(1)> **bold** :red[red]"
    at.chat_input[0].set_value(hostile).run(timeout=180)
    assert not at.exception
    user = at.main.chat_message[0]
    assert [t.value for t in user.text] == [hostile]
    rendered = [m.value for m in at.markdown] + [b.label for b in at.button] + [c.value for c in at.caption]
    unescaped = re.compile(r"(?<!\\)(!|\[|<|\*\*b|:red)")  # markup that would act, not show
    assert not [text for text in rendered if unescaped.search(text)], rendered
    assert any(plain(text).startswith("#### ![pixel](http://127.0.0.1:9/") for text in rendered)  # the title

    at.selectbox(key="add-model").set_value("base")
    at.button(key="add-confirm").click().run()
    assert not at.exception
    assert [plain(m.value) for m in at.main.markdown if m.value.startswith("**")] == ["**chat**", "**base**"]
    assert [c.value for c in reply(at, 1).caption] == ["no reply: this lane was added later"]
