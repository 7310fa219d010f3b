# Users type anything, including text that looks like macros or turn markers; rendering must never
# fail and must always leave the document open at the character's cue.

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from personas.catalog import builtin_names, load_mask
from personas.mask import HistoryTurn

turns = st.builds(
    HistoryTurn,
    role=st.sampled_from(["user", "character"]),
    text=st.one_of(
        st.text(max_size=200),
        st.sampled_from(["{text}", "{name}", "{char}", "{{user}}", "User:", "\nAda:", "", "\x00"]),
    ),
)


@settings(max_examples=300, deadline=None)
@given(name=st.sampled_from(builtin_names()), history=st.lists(turns, max_size=6))
def test_render_any_history(name: str, history: list[HistoryTurn]) -> None:
    mask = load_mask(name)
    document = mask.render(history)

    assert document.endswith(mask.turn_opening("character"))
    assert document.startswith(mask.preamble())
    body = document[len(mask.preamble()) : len(document) - len(mask.turn_opening("character"))]
    assert body == "".join(mask.format_turn(turn.role, turn.text) for turn in history)
    for turn in history:
        assert turn.text in document
    messages = mask.as_messages(history)
    assert [m["content"] for m in messages[len(messages) - len(history) :]] == [t.text for t in history]
