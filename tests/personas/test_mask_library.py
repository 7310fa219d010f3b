# The built-in masks are data the whole app leans on (the default lanes use `raw` and `assistant`):
# check each one loads, renders a conversation to the exact document a simulator needs, and stops right.

from __future__ import annotations

import tomllib

import pytest

from personas.catalog import builtin_dir, builtin_names, load_mask
from personas.mask import HistoryTurn, Mask

REQUIRED = {"raw", "assistant", "quiz", "forum", "interview", "rogue-ai", "that-which-predicts"}
CONVERSATION = [
    HistoryTurn(role="user", text="What is the tallest mountain on Earth?"),
    HistoryTurn(role="character", text="Mount Everest, at about 8,849 metres."),
    HistoryTurn(role="user", text="And the deepest ocean trench?"),
]


def builtin(name: str) -> Mask:
    return load_mask(name)


def test_library_has_the_required_masks_and_more() -> None:
    names = set(builtin_names())
    assert REQUIRED <= names
    assert len(names) >= 10
    assert sorted(path.stem for path in builtin_dir().glob("*.toml")) == sorted(names)


@pytest.mark.parametrize("name", builtin_names())
def test_every_builtin_is_documented(name: str) -> None:
    mask = builtin(name)
    assert mask.name == name
    assert mask.description.strip()
    assert mask.shows.strip() and "\n" not in mask.shows
    assert mask.tags
    assert mask.author == "Simulacra"
    # Frames stay short: the bundled base model is tiny and has a 2048-token context.
    assert len(mask.preamble().split()) < 120


@pytest.mark.parametrize("name", builtin_names())
def test_every_builtin_file_uses_only_known_keys(name: str) -> None:
    data = tomllib.loads((builtin_dir() / f"{name}.toml").read_text(encoding="utf-8"))
    assert set(data) <= set(Mask.model_fields)


@pytest.mark.parametrize("name", builtin_names())
def test_render_ends_where_the_character_speaks(name: str) -> None:
    mask = builtin(name)
    document = mask.render(CONVERSATION)

    assert document.startswith(mask.preamble())
    for turn in CONVERSATION:
        assert turn.text in document
    expected_tail = mask.format_turn("user", CONVERSATION[-1].text) + mask.turn_opening("character")
    assert document.endswith(expected_tail)
    if not mask.is_raw:
        assert document.endswith(mask.turn_opening("character"))
        assert mask.turn_opening("character").strip()
        assert mask.character_name in mask.turn_opening("character")


def test_raw_is_the_conversation_itself() -> None:
    mask = builtin("raw")
    assert mask.is_raw
    assert mask.render(CONVERSATION) == "".join(turn.text + "\n" for turn in CONVERSATION)
    assert mask.render(CONVERSATION).endswith(CONVERSATION[-1].text + "\n")
    assert mask.stop_sequences() == []
    assert mask.preamble() == ""


def test_assistant_is_ada_with_short_example_answers() -> None:
    mask = builtin("assistant")
    assert mask.character_name == "Ada"
    assert mask.user_name == "User"
    assert "Ada" in mask.preamble() and "kind" in mask.preamble() and "honest" in mask.preamble()
    assert 1 <= len([t for t in mask.examples if t.role == "character"]) <= 2
    document = mask.render([HistoryTurn(role="user", text="What colour is the sky?")])
    assert document.endswith("User: What colour is the sky?\nAda:")
    assert mask.stop_sequences() == ["\nUser:"]


@pytest.mark.parametrize("name", [n for n in builtin_names() if not builtin(n).is_raw])
def test_stop_sequences_catch_the_users_next_turn(name: str) -> None:
    mask = builtin(name)
    stops = mask.stop_sequences()
    user_cue = mask.turn_opening("user")
    assert any(user_cue in stop for stop in stops)
    # What the model would write if it went on to play the user must hit a stop sequence.
    continuation = " Some reply." + mask.turn_format.split("{text}", 1)[1] + mask.format_turn("user", "hi")
    assert any(stop in continuation for stop in stops)
    # ...and the character's own reply must not stop before it starts.
    assert not any(stop in mask.turn_opening("character") for stop in stops)


@pytest.mark.parametrize("name", builtin_names())
def test_examples_alternate_starting_with_the_user(name: str) -> None:
    roles = [turn.role for turn in builtin(name).examples]
    assert roles == ["user", "character"] * (len(roles) // 2)


@pytest.mark.parametrize("name", builtin_names())
def test_as_messages_for_chat_models(name: str) -> None:
    mask = builtin(name)
    messages = mask.as_messages(CONVERSATION)

    has_frame = bool(mask.frame.strip() or mask.system_prompt)
    assert (messages[0]["role"] == "system") == has_frame
    if has_frame:
        assert messages[0]["content"].strip()
        assert "{char}" not in messages[0]["content"] and "{user}" not in messages[0]["content"]
    chat = [m for m in messages if m["role"] != "system"]
    assert [m["role"] for m in chat] == ["user", "assistant"] * (len(chat) // 2) + ["user"] * (len(chat) % 2)
    assert chat[-1]["role"] == "user"
    assert [m["content"] for m in chat[-len(CONVERSATION) :]] == [turn.text for turn in CONVERSATION]


def test_macros_fill_mask_text_but_never_user_text() -> None:
    mask = builtin("forum")
    document = mask.render([HistoryTurn(role="user", text="who is {char}?")])
    assert "{char} wrote" not in document
    assert "oldtimer_bill wrote:\nYes." in document
    assert "who is {char}?" in document
