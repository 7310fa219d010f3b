"""The character cards the card tests read: real V1, V2 and V3 cards as SillyTavern and other apps write them,
written to JSON files or to PNGs with real tEXt chunks, and what a card's text should look like in a document."""

from __future__ import annotations

import base64
import io
import json
import re
from pathlib import Path
from typing import Any

from PIL import Image
from PIL.PngImagePlugin import PngInfo

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


# Shaped like SillyTavern's own default card, default_Seraphina.png (the words are ours): a V2 card in a PNG's
# `chara` chunk, the V1 fields mirrored at the top level beside SillyTavern's own keys, a description written on
# Windows (seven "\r\n" line endings, nothing else in the card has any), a greeting with "\n", a lorebook.
_GUARDIAN = (
    '[{{char}}\'s Personality= "caring", "protective", "watchful"]\r\n'
    '[{{char}}\'s body= "pink hair", "amber eyes", "white dress"]\r\n'
    "<START>\r\n"
    '{{user}}: "Describe your traits?"\r\n'
    '{{char}}: *smiles warmly* "I mend what is broken and guard this glade."\r\n'
    '{{user}}: "Who are you?"\r\n'
    '{{char}}: "A guardian of the forest, {{user}}. You are safe here."\r\n'
    "Nothing harms {{user}} while {{char}} watches."
)
GUARDIAN_DATA: dict[str, Any] = {
    "name": "Guardian",
    "description": _GUARDIAN,
    "personality": "",
    "scenario": "",
    "first_mes": '*You wake in a bed of moss.* "Easy now," {{char}} says.\n\n"You were hurt in the woods."',
    "mes_example": "",
    "creator_notes": "The default guardian of the glade.",
    "system_prompt": "",
    "post_history_instructions": "",
    "tags": [],
    "creator": "a card maker",
    "character_version": "main",
    "alternate_greetings": [],
    "extensions": {"talkativeness": "0.5", "fav": False, "world": "The Glade"},
    "character_book": {
        "entries": [{"id": 0, "keys": ["glade"], "content": '{{user}}: "What is the glade?"\n{{char}}: "Home."'}],
        "name": "The Glade",
    },
}
GUARDIAN: dict[str, Any] = {
    **{key: GUARDIAN_DATA[key] for key in ("name", "description", "personality", "first_mes")},
    "avatar": "none",
    "chat": "Guardian - 2023-5-20 @18h 13m 44s 0ms",
    "mes_example": "",
    "scenario": "",
    "create_date": "2023-5-20 @18h 13m 44s 0ms",
    "talkativeness": "0.5",
    "fav": False,
    "creatorcomment": GUARDIAN_DATA["creator_notes"],
    "spec": "chara_card_v2",
    "spec_version": "2.0",
    "data": GUARDIAN_DATA,
}


def png_with_text(chunks: dict[str, str], colour: str = "teal", size: tuple[int, int] = (40, 60)) -> bytes:
    """A real PNG written by Pillow with these tEXt chunks (latin-1, not compressed), as card tools write them."""
    info = PngInfo()
    for keyword, text in chunks.items():
        info.add_text(keyword, text)
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, format="PNG", pnginfo=info)
    return buffer.getvalue()


def card_chunk(card: dict[str, Any]) -> str:
    """A character card as a `chara` or `ccv3` chunk holds it: base64 of its JSON."""
    return base64.b64encode(json.dumps(card).encode("utf-8")).decode("ascii")
