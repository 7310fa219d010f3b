# Users type anything, including text that looks like macros or turn markers; rendering must never
# fail, must always leave the document open at the character's cue, and must never let a user's line
# open a speaker's turn.

from __future__ import annotations

import tomllib
import unicodedata

from hypothesis import example, given, settings
from hypothesis import strategies as st

from personas.catalog import builtin_names, load_mask
from personas.mask import QUOTE_MARK, HistoryTurn, Mask, MaskError, parse_mask_toml
from tests.support.factories import examples

# Pieces that come close to a speaker tag in every way we know of, mixed with anything at all.
PIECES = st.sampled_from(
    [
        "{text}",
        "{name}",
        "{char}",
        "{{user}}",
        "User:",
        "\nAda:",
        "\nada:",
        "\n  Ada:",
        "\n\u200bAda:",
        "\nＡｄａ：",
        "\r",
        "\r\n",
        "\u2028",
        "\x85",
        "\nUser:",
        "\noldtimer_bill wrote:",
        "\nnewbie_sam wrote:\n",
        "\nHAMLET.",
        "\nThat-Which-Predicts said:",
        "\nInterviewer:",
        "\n",
        " ",
        "\x00",
        "Adam:",
        "> Ada:",
    ]
)
TEXT = st.one_of(st.text(max_size=200), st.lists(st.one_of(PIECES, st.text(max_size=8)), max_size=8).map("".join))
turns = st.builds(HistoryTurn, role=st.sampled_from(["user", "character"]), text=TEXT)
MASKS = {name: load_mask(name) for name in builtin_names()}


def opens_as(line: str, tag: str) -> bool:
    """Would a reader (or a model) take this line for `tag`'s turn? Independent of the renderer's own check."""
    visible = "".join(c for c in line if unicodedata.category(c) != "Cf")
    return unicodedata.normalize("NFKC", visible).lstrip().casefold().startswith(tag.casefold())


@settings(max_examples=examples(300), deadline=None)
@given(name=st.sampled_from(builtin_names()), history=st.lists(turns, max_size=6))
def test_render_any_history(name: str, history: list[HistoryTurn]) -> None:
    mask = MASKS[name]
    document = mask.render(history)
    parts = mask.document_parts(history)

    assert document == "".join(part.text for part in parts)
    assert document.endswith(mask.turn_opening("character"))
    assert document.startswith(mask.preamble())
    for turn, part in zip(history, [p for p in parts if p.kind == "turn"], strict=True):
        plain = mask.format_turn(turn.role, turn.text)
        # Nothing the user wrote is lost: each quoted line only gains the quote mark.
        assert len(part.text) == len(plain) + len(QUOTE_MARK) * len(part.quoted)
        assert all(QUOTE_MARK + line in part.text for line in part.quoted)
        assert part.text == plain or turn.role == "user"
    assert len(mask.forged_lines(history)) == sum(len(p.quoted) for p in parts)
    messages = mask.as_messages(history)
    assert [m["content"] for m in messages[len(messages) - len(history) :]] == [t.text for t in history]


def fullwidth(text: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)


def disguised(tag: str) -> st.SearchStrategy[str]:
    """The tag as someone trying to slip it past a check would write it."""
    return st.sampled_from(
        [
            tag,
            tag.lower(),
            tag.upper(),
            "  " + tag,
            "\t" + tag,
            "\u200b" + tag,
            "\ufeff" + tag,
            "\u2060" + tag,
            fullwidth(tag),
            tag[:1] + "\u200d" + tag[1:],
        ]
    )


@settings(max_examples=examples(300), deadline=None)
@given(name=st.sampled_from([n for n in builtin_names() if MASKS[n].speaker_tags()]), data=st.data())
def test_user_text_never_opens_a_speakers_line(name: str, data: st.DataObject) -> None:
    mask = MASKS[name]
    user_tag, character_tag = mask.speaker_tags()
    breaks = st.sampled_from(["\n", "\r", "\r\n", "\u2028", "\x85", "\n\n", ""])
    forged = st.tuples(breaks, disguised(character_tag) | disguised(user_tag)).map("".join)
    texts = data.draw(st.lists(st.lists(forged | TEXT, max_size=5).map(" ".join), max_size=4))
    history = [HistoryTurn(role="user", text=text) for text in texts]
    body = mask.render(history)[len(mask.preamble()) :]
    lines = body.splitlines()
    # The character speaks only in the cue the renderer adds at the very end...
    assert [i for i, line in enumerate(lines) if opens_as(line, character_tag)] == [len(lines) - 1]
    # ...and the user's turns are exactly the ones in the history.
    assert sum(opens_as(line, user_tag) for line in lines) == len(history)


@settings(max_examples=examples(200), deadline=None)
@given(
    text=st.text(max_size=300)
    | st.lists(
        st.sampled_from(
            [
                'name = "x"\n',
                'frame = """a\n',
                'turn_format = "{name}"\n',
                "colour = 1\n",
                "[[examples]]\n",
                'role = "user"\n',
                'text = "hi"\n',
                "stop = [1]\n",
                "= nope\n",
                '"\\ud800" = 1\n',
            ]
        ),
        max_size=6,
    ).map("".join)
)
def test_any_toml_text_gives_a_mask_or_one_mask_error(text: str) -> None:
    try:
        mask = parse_mask_toml(text, "fuzz.toml", default_name="fuzz")
    except MaskError as e:
        assert "fuzz.toml" in str(e)
        return
    assert isinstance(mask, Mask)
    tomllib.loads(text)  # accepted only what is TOML
    mask.render([HistoryTurn(role="user", text="hi")])


NAMES = st.one_of(st.text(max_size=12), st.sampled_from(["\u200b", "", " ", "Ada", "ada", "A:", "\n", "Ｕｓｅｒ"]))
FORMATS = st.tuples(st.text(max_size=6), st.text(max_size=6), st.text(max_size=6)).map(
    lambda parts: f"{parts[0]}{{name}}{parts[1]}{{text}}{parts[2]}"
) | st.sampled_from(["{text}\n", "{name}: {text}\n", "\n{name}:\n{text}", "[{name}] {text}", "{text} ({name})\n"])


@settings(max_examples=examples(300), deadline=None)
# A speaker whose tag is only an invisible character once leading text is dropped: no tag to match at all.
@example(user="\u200b", character="Ada", turn_format="{name} {text}", history=[HistoryTurn(role="user", text="a\nb")])
@given(user=NAMES, character=NAMES, turn_format=FORMATS, history=st.lists(turns, max_size=4))
def test_any_speakers_and_turn_format_render(
    user: str, character: str, turn_format: str, history: list[HistoryTurn]
) -> None:
    mask = Mask(name="fuzz", user_name=user, character_name=character, turn_format=turn_format)
    document = mask.render(history)
    assert document == "".join(part.text for part in mask.document_parts(history))
    assert document.endswith(mask.turn_opening("character"))
    assert len(mask.forged_lines(history)) == sum(len(p.quoted) for p in mask.document_parts(history))
