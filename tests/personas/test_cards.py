# Character cards come from other apps and go back to them: real V1/V2/V3 files (JSON, and PNGs written by
# Pillow with real tEXt chunks) must import, render the persona, and export with every field unchanged.

from __future__ import annotations

import base64
import copy
import io
import json
import re
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from testsupport import card_chunk, png_with_text

from personas.cards import card_from_mask, export_card_json, export_card_png, import_card, import_card_bytes
from personas.catalog import builtin_names, load_mask
from personas.mask import HistoryTurn, Mask, MaskError

NOTES = "CREATOR-ONLY: tested on Claude, please leave a review"
V2_DEFAULTS: dict[str, Any] = {
    "creator_notes": "",
    "system_prompt": "",
    "post_history_instructions": "",
    "alternate_greetings": [],
    "tags": [],
    "creator": "",
    "character_version": "",
    "extensions": {},
}
BOOK = {
    "name": "Axis lore",
    "scan_depth": 4,
    "token_budget": 512,
    "recursive_scanning": False,
    "extensions": {"fork": {"kept": True}},
    "entries": [
        {"keys": ["Axis"], "content": "The Axis Order worships {{char}}.", "enabled": True, "insertion_order": 10},
        {"keys": ["Eris"], "content": "A rival goddess.", "enabled": False, "insertion_order": 20, "id": 7},
    ],
}

V1: dict[str, Any] = {
    "name": "Marisa Kirisame",
    "description": "{{char}} is an ordinary magician who lives in the Forest of Magic.",
    "personality": "bold, greedy, secretly hard-working",
    "scenario": "<USER> walks into {{Char}}'s cluttered shop.",
    "first_mes": "Welcome, {{user}}! Don't touch anything, ze.",
    "mes_example": "<START>\n{{user}}: What do you sell?\n{{char}}: Mushrooms, mostly. And <bot>'s spare brooms.",
    # Keys SillyTavern's V1 exports carry next to the card fields.
    "avatar": "none",
    "talkativeness": "0.5",
    "create_date": "2023-5-4 @12h 30m 10s 0ms",
}
V2_DATA: dict[str, Any] = {
    "name": "Aqua",
    "description": "{{char}} is the goddess of water, worshipped by the Axis Order. {{char}} met {{user}} in Axel.",
    "personality": "cheerful, vain, cries easily",
    "scenario": "{{User}} and {{CHAR}} are drinking at the adventurers' guild.",
    "first_mes": "*slams a mug on the table* {{user}}! You're paying tonight, right?",
    "mes_example": (
        "<START>\n{{user}}: Who are you?\n{{char}}: I am <BOT>, the goddess of water!\nBow before me.\n"
        "<START>\nAqua: Have you joined the Axis Order yet, <USER>?"
    ),
    "creator_notes": NOTES,
    "system_prompt": "Write {{char}}'s next reply in a fictional chat with {{user}}. {{original}}",
    "post_history_instructions": "Stay in character as {{char}}.",
    "alternate_greetings": ["*sobs* {{user}}, lend me money!", "Oh, it's <user>."],
    "character_book": BOOK,
    "tags": ["fantasy", "comedy"],
    "creator": "konosuba-fan",
    "character_version": "1.2",
    "extensions": {"talkativeness": "0.7", "fav": False, "depth_prompt": {"depth": 4, "prompt": "x"}, "world": "Axel"},
}
V2: dict[str, Any] = {
    "spec": "chara_card_v2",
    "spec_version": "2.0",
    "data": V2_DATA,
    # SillyTavern mirrors the V1 fields at the top level, with keys of its own.
    **{key: V2_DATA[key] for key in ("name", "description", "personality", "scenario", "first_mes", "mes_example")},
    "create_date": "2024-1-1 @10h 00m 00s 000ms",
}
V3: dict[str, Any] = {
    "spec": "chara_card_v3",
    "spec_version": "3.0",
    "data": {
        "name": "Lieutenant Commander Data",
        "nickname": "Data",
        "description": "{{char}} is an android serving aboard the USS Enterprise.",
        "personality": "curious, literal, polite",
        "scenario": "{{user}} finds {{char}} in Ten Forward.",
        "first_mes": "Greetings, {{user}}. I am attempting to understand humour.",
        "mes_example": "<START>\n{{user}}: Can you feel?\n{{char}}: I do not possess an emotion chip, {{user}}.",
        "creator_notes": NOTES,
        "creator_notes_multilingual": {"fr": "NOTES DU CRÉATEUR"},
        "system_prompt": "",
        "post_history_instructions": "",
        "alternate_greetings": [],
        "group_only_greetings": ["Greetings, everyone."],
        "character_book": BOOK,
        "tags": ["sci-fi"],
        "creator": "trekkie",
        "character_version": "3",
        "extensions": {"risuai": {"utilityBot": False}, "unknown_app": [1, 2, {"deep": None}]},
        "assets": [{"type": "icon", "uri": "ccdefault:", "name": "main", "ext": "png"}],
        "source": ["https://example.org/data"],
        "creation_date": 1700000000,
        "modification_date": 1700000500,
    },
}
CARDS: dict[str, dict[str, Any]] = {"v1": V1, "v2": V2, "v3": V3}


def card_data(card: dict[str, Any]) -> dict[str, Any]:
    v1_fields = ("name", "description", "personality", "scenario", "first_mes", "mes_example")
    return card["data"] if "spec" in card else {k: v for k, v in card.items() if k in v1_fields}


def filled(text: str, name: str) -> str:
    """Card text as the document should show it: speaker macros of any case replaced."""
    text = re.sub(r"\{\{char\}\}|<bot>", name, text, flags=re.IGNORECASE)
    return re.sub(r"\{\{user\}\}|<user>", "User", text, flags=re.IGNORECASE)


def write_card(folder: Path, version: str, kind: str) -> Path:
    card = CARDS[version]
    if kind == "json":
        path = folder / f"{version}.json"
        path.write_text(json.dumps(card, ensure_ascii=False, indent=4), encoding="utf-8")
    else:
        path = folder / f"{version}.png"
        chunks = {"chara": card_chunk(card)}
        if version == "v3":  # as SillyTavern writes V3: a V2 `chara` beside the `ccv3`
            v2 = card | {"spec": "chara_card_v2", "spec_version": "2.0"}
            chunks = {"chara": card_chunk(v2), "ccv3": card_chunk(card)}
        path.write_bytes(png_with_text(chunks))
    return path


def png_texts(data: bytes) -> dict[str, Any]:
    image = Image.open(io.BytesIO(data))
    image.load()
    return {key: json.loads(base64.b64decode(value)) for key, value in image.text.items()}  # type: ignore[attr-defined]


CASES = [(version, kind) for version in CARDS for kind in ("json", "png")]


@pytest.mark.parametrize(("version", "kind"), CASES)
def test_import_renders_the_persona_and_never_the_creator_notes(tmp_path: Path, version: str, kind: str) -> None:
    mask = import_card(write_card(tmp_path, version, kind))
    name = {"v1": "Marisa Kirisame", "v2": "Aqua", "v3": "Data"}[version]
    document = mask.render([HistoryTurn(role="user", text="Hello there.")])

    assert mask.character_name == name
    assert re.fullmatch(r"[a-z0-9][a-z0-9_.-]*", mask.name)
    data = card_data(CARDS[version])
    for field in ("description", "personality", "scenario"):
        assert filled(data[field], name) in document
    assert mask.fill(mask.greeting) in document
    assert document.endswith(f"User: Hello there.\n{name}:")
    assert not re.search(r"\{\{|<bot>|<user>|<start>", document, re.IGNORECASE)
    assert NOTES not in document and "NOTES DU" not in document
    messages = mask.as_messages([HistoryTurn(role="user", text="Hello there.")])
    assert all(NOTES not in message["content"] for message in messages)
    assert f"{name} is" in messages[0]["content"]


def test_field_mapping_of_a_v2_card(tmp_path: Path) -> None:
    mask = import_card(write_card(tmp_path, "v2", "json"))

    assert mask.name == "aqua"
    assert mask.frame == (
        "{{char}} is the goddess of water, worshipped by the Axis Order. {{char}} met {{user}} in Axel.\n"
        "{{char}}'s personality: cheerful, vain, cries easily\n"
        "Scenario: {{user}} and {{char}} are drinking at the adventurers' guild.\n\n"
    )
    assert mask.examples == [
        HistoryTurn(role="user", text="Who are you?"),
        HistoryTurn(role="character", text="I am {{char}}, the goddess of water!\nBow before me."),
        HistoryTurn(role="character", text="Have you joined the Axis Order yet, {{user}}?"),
    ]
    assert mask.greeting == V2_DATA["first_mes"]
    assert mask.alternate_greetings == ["*sobs* {{user}}, lend me money!", "Oh, it's {{user}}."]
    assert mask.system_prompt is not None
    assert mask.system_prompt.startswith("Write {{char}}'s next reply in a fictional chat with {{user}}.\n\n")
    assert "{{original}}" not in mask.system_prompt and mask.frame.strip() in mask.system_prompt
    assert mask.post_history_instructions == "Stay in character as {{char}}."
    assert mask.description == NOTES
    assert (mask.tags, mask.author, mask.version) == (["fantasy", "comedy"], "konosuba-fan", "1.2")
    assert mask.card == V2 and mask.card_image is None


@pytest.mark.parametrize(("version", "kind"), CASES)
def test_round_trip_gives_every_field_back(tmp_path: Path, version: str, kind: str) -> None:
    original = copy.deepcopy(CARDS[version])
    mask = import_card(write_card(tmp_path, version, kind))
    card = card_from_mask(mask)

    assert (card["spec"], card["spec_version"]) == ("chara_card_v2", "2.0")
    source = card_data(original)
    for field, value in source.items():  # every field, character_book and unknown extensions keys included
        assert card["data"][field] == value, field
    for field, value in V2_DEFAULTS.items():
        assert card["data"][field] == source.get(field, value), field
    for key, value in original.items():  # the card's other top-level keys too
        if key not in ("spec", "spec_version", "data") and not (version == "v1" and key in V2_DATA):
            assert card[key] == value, key
    if version == "v2":
        assert card == original
    # A JSON export keeps an imported card's own spec: a V3 card stays V3, whole; V1 becomes V2.
    assert json.loads(export_card_json(mask)) == (original if version == "v3" else card)

    again = import_card_bytes(export_card_json(mask), "again.json")
    assert mask_fields(again) == mask_fields(mask)
    assert card_from_mask(again)["data"] == card["data"]

    exported = export_card_png(mask)
    texts = png_texts(exported)
    assert texts["chara"] == card
    if version == "v3":  # a V3 card also goes back in its own chunk, exactly as it came
        assert texts["ccv3"] == original
    else:
        assert "ccv3" not in texts
    assert mask_fields(import_card_bytes(exported, "again.png")) == mask_fields(mask)


def mask_fields(mask: Mask) -> dict[str, Any]:
    return mask.model_dump(exclude={"card", "card_image"})


def test_png_export_keeps_the_original_picture(tmp_path: Path) -> None:
    path = tmp_path / "aqua.png"
    path.write_bytes(png_with_text({"Title": "my card", "chara": card_chunk(V2)}, colour="#3366cc", size=(64, 96)))
    original = Image.open(path)
    exported = export_card_png(import_card(path))
    image = Image.open(io.BytesIO(exported))

    assert image.size == (64, 96)
    assert list(image.getdata()) == list(original.getdata())
    assert image.text["Title"] == "my card"  # type: ignore[attr-defined]
    assert exported.count(b"tEXtchara") == 1


def test_prefers_ccv3_over_chara(tmp_path: Path) -> None:
    old = {"spec": "chara_card_v2", "spec_version": "2.0", "data": {"name": "Old Name", "description": "old"}}
    path = tmp_path / "both.png"
    path.write_bytes(png_with_text({"chara": card_chunk(old), "ccv3": card_chunk(V3)}))
    assert import_card(path).character_name == "Data"
    path.write_bytes(png_with_text({"ccv3": card_chunk(V3), "chara": card_chunk(old)}))
    assert import_card(path).character_name == "Data"


@pytest.mark.parametrize(
    "text",
    [
        "{{char}} greets {{user}}",
        "{{Char}} greets {{User}}",
        "{{CHAR}} greets {{USER}}",
        "<BOT> greets <USER>",
        "<bot> greets <user>",
        "<Bot> greets {{uSeR}}",
    ],
)
def test_macros_are_case_insensitive(text: str) -> None:
    card = {"name": "Ada", "description": text, "first_mes": text, "mes_example": f"<start>\n<USER>: {text}"}
    mask = import_card_bytes(json.dumps(card).encode(), "ada.json")
    document = mask.render([])
    assert document.count("Ada greets User") == 3
    assert card_from_mask(mask)["data"]["description"] == text  # given back as written


def test_example_dialogues() -> None:
    card = {
        "name": "Ada",
        "mes_example": (
            "<START>\r\n{{user}}: Hi\r\n{{char}}: Hello!\r\nHow are you?\r\n\r\n<START>\n*Ada looks up*\n"
            "{{char}}:Busy.\n   {{user}}: Sorry.\nAda: No matter.\n<START>\n\n"
        ),
    }
    mask = import_card_bytes(json.dumps(card).encode(), "ada.json")
    assert [(turn.role, turn.text) for turn in mask.examples] == [
        ("user", "Hi"),
        ("character", "Hello!\nHow are you?"),
        ("character", "*Ada looks up*"),
        ("character", "Busy."),
        ("user", "Sorry."),
        ("character", "No matter."),
    ]


def test_edited_fields_are_written_afresh_and_the_rest_kept(tmp_path: Path) -> None:
    mask = import_card(write_card(tmp_path, "v2", "png"))
    mask.greeting = "Hi {char}, I mean {{user}}."
    mask.frame = "A tavern in Axel. {{char}} is drunk.\n\n"
    mask.character_name = "Aqua-sama"
    mask.turn_format = "{name} said: {text}\n"
    card = card_from_mask(mask)
    data = card["data"]

    assert data["first_mes"] == "Hi {{char}}, I mean {{user}}."
    assert data["description"] == "A tavern in Axel. {{char}} is drunk."
    assert data["personality"] == data["scenario"] == ""
    assert data["name"] == card["name"] == "Aqua-sama"  # the V1 mirror follows the edit
    assert card["create_date"] == V2["create_date"]
    for field in ("mes_example", "creator_notes", "alternate_greetings", "character_book", "tags", "creator"):
        assert data[field] == V2_DATA[field]
    assert {k: v for k, v in data["extensions"].items() if k != "simulacra"} == V2_DATA["extensions"]
    # What the card's own fields cannot say rides along for Simulacra; the new frame and name need nothing.
    carried = data["extensions"]["simulacra"]
    assert carried["greeting"] == "Hi {char}, I mean {{user}}."
    assert carried["turn_format"] == "{name} said: {text}\n"
    assert "frame" not in carried and "character_name" not in carried

    again = import_card_bytes(export_card_png(mask), "again.png")
    assert mask_fields(again) == mask_fields(mask) | {"name": "aqua-sama"}


def test_v3_nickname_is_the_speaker_and_an_edit_renames_it(tmp_path: Path) -> None:
    mask = import_card(write_card(tmp_path, "v3", "json"))
    assert mask.name == "lieutenant-commander-data"
    assert mask.character_name == "Data"
    mask.character_name = "Mr. Data"
    data = card_from_mask(mask)["data"]
    assert (data["name"], data["nickname"]) == ("Lieutenant Commander Data", "Mr. Data")
    assert data["group_only_greetings"] == ["Greetings, everyone."]


@pytest.mark.parametrize("name", builtin_names())
def test_every_builtin_mask_exports_and_comes_back(name: str) -> None:
    mask = load_mask(name)
    card = card_from_mask(mask)
    assert (card["spec"], card["spec_version"]) == ("chara_card_v2", "2.0")
    assert card["data"]["name"] == mask.character_name
    assert card["data"]["creator_notes"] == mask.description
    assert "{char}" not in card["data"]["description"].replace("{{char}}", "")

    png = export_card_png(mask)
    image = Image.open(io.BytesIO(png))
    assert (image.format, image.size) == ("PNG", (400, 600))
    for back in (import_card_bytes(png, f"{name}.png"), import_card_bytes(export_card_json(mask), f"{name}.json")):
        assert mask_fields(back) == mask_fields(mask) | {"name": back.name}
        assert back.render([HistoryTurn(role="user", text="Hi")]) == mask.render([HistoryTurn(role="user", text="Hi")])


@pytest.mark.parametrize(
    ("card_name", "filename", "expected"),
    [
        ("Assistant", "a.json", "assistant-card"),  # never a built-in's name
        ("  Dr. Jekyll & Mr. Hyde!", "x.json", "dr.-jekyll-mr.-hyde"),
        ("Zoë Ångström", "x.json", "zoe-angstrom"),
        ("アクア", "Aqua Card.png", "aqua-card"),
        ("", "", "card"),
    ],
)
def test_mask_names_are_slugs(card_name: str, filename: str, expected: str) -> None:
    data = json.dumps({"spec": "chara_card_v2", "spec_version": "2.0", "data": {"name": card_name}}).encode()
    if filename.endswith(".png"):
        data = png_with_text({"chara": base64.b64encode(data).decode()})
    assert import_card_bytes(data, filename).name == expected


# -- failures ----------------------------------------------------------------------------------


def chunk_claiming_too_much() -> bytes:
    data = bytearray(png_with_text({"chara": card_chunk(V2)}))
    at = data.index(b"tEXtchara") - 4
    data[at : at + 4] = (len(data) * 2).to_bytes(4, "big")
    return bytes(data)


FAILURES = [
    ("malformed.json", b'{"spec": "chara_card_v2", "data": {"name": "A"', r"malformed\.json is not valid JSON"),
    ("array.json", b'[{"name": "A"}]', r"a character card is a JSON object, not an array"),
    ("spec.json", json.dumps({"spec": "chara_card_v9", "data": {"name": "A"}}).encode(), r"unknown card spec"),
    ("nothing.json", b'{"hello": "world"}', r"not a character card"),
    ("no-data.json", b'{"spec": "chara_card_v2", "data": "A"}', r"chara_card_v2 card has no 'data' object"),
    ("tags.json", json.dumps({"name": "A", "spec": "chara_card_v2", "data": {"tags": "a,b"}}).encode(), r"'tags'"),
    ("type.json", b'{"name": "A", "first_mes": 3}', r"card field 'first_mes' must be text, not a number"),
    ("nan.json", b'{"name": "A", "extensions": NaN}', r"not valid JSON"),
    ("latin1.json", '{"name": "Zoë"}'.encode("latin-1"), r"latin1\.json is not UTF-8 text"),
    ("surrogate.json", b'{"name": "\\ud800"}', r"not valid Unicode"),
    ("deep.json", b'{"name": "A", "x": ' + b"[" * 100 + b"]" * 100 + b"}", r"nested more than 64 levels"),
    (
        "plain.png",
        png_with_text({"Comment": "just a picture"}),
        r"no character card \(no 'ccv3' or 'chara' text chunk\)",
    ),
    ("b64.png", png_with_text({"chara": "not base64 at all!"}), r"b64\.png \(chara chunk\) is not valid base64"),
    ("json.png", png_with_text({"chara": base64.b64encode(b"{nope").decode()}), r"\(chara chunk\) is not valid JSON"),
    ("utf.png", png_with_text({"ccv3": base64.b64encode(b'{"n": "\xff"}').decode()}), r"\(ccv3 chunk\) is not UTF-8"),
    ("claims.png", chunk_claiming_too_much(), r"PNG chunk 'tEXt' at byte \d+ claims \d+ bytes, but the file has only"),
    ("cut.png", png_with_text({"chara": card_chunk(V2)})[:-20], r"claims|cut short"),
    ("fake.png", b'{"name": "A"}', r"fake\.png is not a PNG file"),
]


@pytest.mark.parametrize(("filename", "data", "message"), FAILURES, ids=[f[0] for f in FAILURES])
def test_bad_cards_fail_with_one_clear_error_and_save_nothing(
    tmp_path: Path, filename: str, data: bytes, message: str
) -> None:
    path = tmp_path / filename
    path.write_bytes(data)
    with pytest.raises(MaskError, match=message) as error:
        import_card(path)
    assert "\n" not in str(error.value) and len(str(error.value)) < 300
    assert sorted(tmp_path.iterdir()) == [path]


def test_file_over_20_mb_is_refused_before_reading(tmp_path: Path) -> None:
    path = tmp_path / "huge.png"
    with path.open("wb") as file:
        file.truncate(4 * 1024**3)  # sparse: reading it all would take seconds and gigabytes
    with pytest.raises(MaskError, match=r"huge\.png: card file is 4294967296 bytes; the limit is 20 MB"):
        import_card(path)
    with pytest.raises(MaskError, match=r"the limit is 20 MB"):
        import_card_bytes(b"{" + b" " * (20 * 1024 * 1024), "big.json")


def test_missing_file_is_a_mask_error(tmp_path: Path) -> None:
    with pytest.raises(MaskError, match=r"cannot read card file"):
        import_card(tmp_path / "absent.json")


def test_v1_card_with_stray_spec_keys_exports_as_v2() -> None:
    card = {"name": "Ada", "spec": None, "spec_version": "1.0", "data": "junk", "avatar": "none"}
    exported = card_from_mask(import_card_bytes(json.dumps(card).encode(), "ada.json"))
    assert (exported["spec"], exported["spec_version"], exported["data"]["name"]) == ("chara_card_v2", "2.0", "Ada")
    assert exported["avatar"] == "none"


def test_a_broken_stored_image_is_a_mask_error(tmp_path: Path) -> None:
    mask = import_card(write_card(tmp_path, "v2", "png"))
    mask.card_image = "%%% not base64"
    with pytest.raises(MaskError, match=r"mask aqua: its card image is not valid base64"):
        export_card_png(mask)
    mask.card_image = base64.b64encode(b"GIF89a").decode()
    with pytest.raises(MaskError, match=r"the image of mask aqua is not a PNG file"):
        export_card_png(mask)
