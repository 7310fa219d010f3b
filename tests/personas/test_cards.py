# Character cards come from other apps: real V1/V2/V3 files (JSON, and PNGs written by Pillow with real tEXt
# chunks) must import with every field in its place, render the persona, and never the creator's notes. Exporting
# them back is in test_cards_export.py, refused cards in test_cards_failures.py.

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import pytest

from personas.cards.files import card_from_mask, import_card, import_card_bytes
from personas.mask import HistoryTurn
from tests.support.cards import (
    CARDS,
    CASES,
    NOTES,
    V2,
    V2_DATA,
    V3,
    card_chunk,
    card_data,
    filled,
    png_with_text,
    write_card,
)


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
