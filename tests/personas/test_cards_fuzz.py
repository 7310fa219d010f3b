# Card files are untrusted downloads: whatever bytes or JSON arrive, the parser either gives a mask or
# one MaskError, and any card it accepts exports and comes back the same.

from __future__ import annotations

import base64
import json
import struct
import zlib
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from personas.cards.files import PNG_SIGNATURE, card_from_mask, export_card_json, export_card_png, import_card_bytes
from personas.mask import HistoryTurn, Mask, MaskError
from tests.support.factories import examples

FUZZ = settings(max_examples=examples(200), deadline=None, suppress_health_check=[HealthCheck.too_slow])
FILENAMES = st.sampled_from(["card.json", "card.png", "card", "CARD.PNG", "アクア.json"])
# Text that looks like what cards and masks hold, mixed with anything at all.
PIECES = st.sampled_from(
    [
        "{{char}}",
        "{{user}}",
        "{{Char}}",
        "<BOT>",
        "<user>",
        "{char}",
        "{user}",
        "<START>",
        "\n",
        "{{user}}: ",
        "{{char}}:",
        "Ada:",
        "{{original}}",
        "{name}",
        "{text}",
        " ",
        "\r\n",
        "\x00",
        "é",
        "😀",
    ]
)
TEXT = st.lists(st.one_of(PIECES, st.text(max_size=12)), max_size=8).map("".join)
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4),
    max_leaves=20,
)
FIELDS = st.sampled_from(
    [
        "name",
        "description",
        "personality",
        "scenario",
        "first_mes",
        "mes_example",
        "creator_notes",
        "system_prompt",
        "post_history_instructions",
        "alternate_greetings",
        "character_book",
        "tags",
        "creator",
        "character_version",
        "extensions",
        "nickname",
        "group_only_greetings",
        "assets",
    ]
)
KNOWN_SPECS = st.sampled_from(["chara_card_v2", "chara_card_v3", "chara_card_v2", "chara_card_v3", None])
SPECS = st.one_of(KNOWN_SPECS, KNOWN_SPECS, KNOWN_SPECS, st.sampled_from(["chara_card_v1", ""]), JSON)
LISTS = {"alternate_greetings", "tags", "group_only_greetings", "source"}
# `extensions.simulacra` is read back into mask fields, so it gets fuzzed with keys and values that almost fit.
SIMULACRA = st.dictionaries(
    st.sampled_from(["frame", "turn_format", "stop", "examples", "user_name", "version", "colour"]),
    JSON | TEXT | st.sampled_from(["{name}: {text}\n", "no text"]) | st.lists(JSON, max_size=2),
    max_size=3,
)


def field_value(field: str) -> st.SearchStrategy[Any]:
    """Mostly the type the spec wants for `field`, sometimes anything."""
    if field in LISTS:
        right: st.SearchStrategy[Any] = st.lists(TEXT, max_size=3)
    elif field == "extensions":
        right = st.dictionaries(TEXT, JSON, max_size=3) | st.fixed_dictionaries({"simulacra": SIMULACRA})
    elif field in ("character_book", "assets"):
        right = JSON
    else:
        right = TEXT
    return st.one_of(right, right, right, right, right, JSON)


# Dicts with card field names and (mostly) the right types: a V1 card, or the `data` of a V2/V3 one.
FIELD_NAMES = st.lists(FIELDS, unique=True, max_size=10)
CARD_DATA = (FIELD_NAMES.map(lambda fields: list(dict.fromkeys(["name", *fields]))) | FIELD_NAMES).flatmap(
    lambda fields: st.fixed_dictionaries({field: field_value(field) for field in fields})
)
CARDS = CARD_DATA | st.builds(
    lambda spec, data, extras: extras | {"spec": spec, "spec_version": "2.0", "data": data},
    SPECS,
    CARD_DATA | JSON,
    st.dictionaries(TEXT, JSON, max_size=2),
)


def accepts_or_refuses(data: bytes, filename: str) -> Mask | None:
    """Import; if the card is accepted, its exports must import again to the same mask."""
    try:
        mask = import_card_bytes(data, filename)
    except MaskError as e:
        assert str(e)
        return None
    mask.render([HistoryTurn(role="user", text="hi")])
    mask.as_messages([])
    mask.model_dump_json()
    fields = mask.model_dump(exclude={"card", "card_image", "name"})
    for exported, name in ((export_card_json(mask), "again.json"), (export_card_png(mask), "again.png")):
        assert import_card_bytes(exported, name).model_dump(exclude={"card", "card_image", "name"}) == fields
    return mask


def card_base64(card: Any) -> bytes:
    return base64.b64encode(json.dumps(card).encode("utf-8"))


# A real picture without a card: the placeholder of a blank mask, its `chara` chunk renamed.
PICTURE = export_card_png(Mask(name="x")).replace(b"tEXtchara", b"tEXtjunk!")


def chunk(kind: bytes, body: bytes, length: int | None = None) -> bytes:
    size = len(body) if length is None else length
    return struct.pack(">I", size) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


@FUZZ
@given(data=st.binary(max_size=400), filename=FILENAMES)
def test_random_bytes(data: bytes, filename: str) -> None:
    accepts_or_refuses(data, filename)


CARD_CHUNK_BODY = st.sampled_from([b"chara\x00", b"ccv3\x00", b"chara", b"ccv3\x00 "]).flatmap(
    lambda key: st.one_of(st.binary(max_size=40), JSON.map(lambda v: base64.b64encode(json.dumps(v).encode()))).map(
        lambda text: key + text
    )
)
LENGTHS = st.none() | st.none() | st.integers(0, 2**32 - 1)  # None: the true length
CHUNKS = st.lists(
    st.tuples(
        st.sampled_from([b"IHDR", b"tEXt", b"IDAT", b"IEND", b"zTXt", b"\x00\x00\x00\x00"]),
        st.binary(max_size=40),
        LENGTHS,
    )
    | st.tuples(st.just(b"tEXt"), CARD_CHUNK_BODY | CARDS.map(lambda card: b"chara\x00" + card_base64(card)), LENGTHS),
    max_size=6,
)


@FUZZ
@given(chunks=CHUNKS, header=st.booleans(), end=st.booleans(), cut=st.just(0) | st.integers(0, 30))
def test_random_png_chunks(chunks: list[tuple[bytes, bytes, int | None]], header: bool, end: bool, cut: int) -> None:
    chunks = [(b"IHDR", bytes(13), None)] * header + chunks + [(b"IEND", b"", None)] * end
    data = PNG_SIGNATURE + b"".join(chunk(kind, body, length) for kind, body, length in chunks)
    event("accepted" if accepts_or_refuses(data[: len(data) - cut], "card.png") else "refused")


@FUZZ
@given(card=st.dictionaries(TEXT | FIELDS | st.just("spec"), JSON, max_size=6) | CARD_DATA)
def test_random_json_dicts(card: dict[str, Any]) -> None:
    event("accepted" if accepts_or_refuses(json.dumps(card).encode(), "card.json") else "refused")


@FUZZ
@given(card=CARDS, as_png=st.booleans())
def test_random_card_shaped_dicts(card: dict[str, Any], as_png: bool) -> None:
    payload = json.dumps(card).encode()
    if as_png:
        payload = PICTURE[:-12] + chunk(b"tEXt", b"chara\x00" + card_base64(card)) + PICTURE[-12:]
    event("accepted" if accepts_or_refuses(payload, "card.png" if as_png else "card.json") else "refused")


TEXTS = (
    "description",
    "personality",
    "scenario",
    "first_mes",
    "mes_example",
    "creator_notes",
    "system_prompt",
    "post_history_instructions",
)


@FUZZ
@given(
    texts=st.fixed_dictionaries(dict.fromkeys(TEXTS, TEXT)),
    name=TEXT,
    lists=st.fixed_dictionaries(dict.fromkeys(("alternate_greetings", "tags"), st.lists(TEXT, max_size=3))),
    extensions=st.dictionaries(TEXT.filter(lambda key: key != "simulacra"), JSON, max_size=3),
    book=st.none() | st.dictionaries(TEXT, JSON, max_size=3),
)
def test_any_valid_v2_card_comes_back_unchanged(
    texts: dict[str, str], name: str, lists: dict[str, list[str]], extensions: dict[str, Any], book: Any
) -> None:
    data: dict[str, Any] = {"name": name, **texts, **lists, "creator": "me", "character_version": "2"}
    data["extensions"] = extensions
    data["creator_notes"] += " NOTES-FOR-HUMANS-ONLY"
    if book is not None:
        data["character_book"] = book
    card = {"spec": "chara_card_v2", "spec_version": "2.0", "data": data}
    mask = import_card_bytes(json.dumps(card).encode(), "card.json")
    assert card_from_mask(mask) == card
    history = [HistoryTurn(role="user", text="hi")]
    assert "NOTES-FOR-HUMANS-ONLY" not in mask.render(history) + json.dumps(mask.as_messages(history))


@FUZZ
@given(
    frame=TEXT,
    character=TEXT,
    user=TEXT,
    greeting=TEXT,
    examples=st.lists(st.builds(HistoryTurn, role=st.sampled_from(["user", "character"]), text=TEXT), max_size=4),
    system=st.none() | TEXT,
    turn_format=st.sampled_from(["{name}: {text}\n", "{name} wrote:\n{text}\n\n", "{text}\n", "[{name}] {text}\n"]),
)
def test_any_mask_comes_back_from_its_card(
    frame: str,
    character: str,
    user: str,
    greeting: str,
    examples: list[HistoryTurn],
    system: str | None,
    turn_format: str,
) -> None:
    mask = Mask(
        name="fuzzed",
        frame=frame,
        character_name=character,
        user_name=user,
        greeting=greeting,
        examples=examples,
        system_prompt=system,
        turn_format=turn_format,
    )
    for exported, filename in ((export_card_json(mask), "m.json"), (export_card_png(mask), "m.png")):
        back = import_card_bytes(exported, filename)
        assert back.model_dump(exclude={"card", "card_image", "name"}) == mask.model_dump(
            exclude={"card", "card_image", "name"}
        )
        assert back.render([]) == mask.render([])
