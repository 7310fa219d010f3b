# What a character card's fields mean as a mask: the card's JSON checked and read into mask fields, with
# SillyTavern's macros, story string and example dialogue rewritten the way masks spell them.

from __future__ import annotations

import base64
import json
import re
import unicodedata
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from personas.bounded import json_type as _json_type
from personas.catalog import is_builtin
from personas.mask import HistoryTurn, Mask, MaskError, describe_validation_error

V2_SPEC, V3_SPEC = "chara_card_v2", "chara_card_v3"

V1_FIELDS = ("name", "description", "personality", "scenario", "first_mes", "mes_example")
_TEXT_FIELDS = (*V1_FIELDS, "creator_notes", "system_prompt", "post_history_instructions", "creator")

# Mask fields a card cannot always say in its own words; those that differ from what the card gives
# ride along in `extensions.simulacra`, so mask -> card -> mask is exact too.
CARRIED = (
    "description",
    "shows",
    "frame",
    "user_name",
    "character_name",
    "examples",
    "greeting",
    "turn_format",
    "stop",
    "system_prompt",
    "tags",
    "author",
    "version",
    "alternate_greetings",
    "post_history_instructions",
)
EXTENSION_KEY = "simulacra"

_CARD_MACRO = re.compile(r"\{\{(char|user)\}\}|<(bot|user)>", re.IGNORECASE)
_ORIGINAL_MACRO = re.compile(r"\{\{original\}\}", re.IGNORECASE)
_START = re.compile(r"<start>", re.IGNORECASE)
# A card's text reaches the mask with "\n" line endings: a mask file (TOML) and a browser's text box both give
# "\r\n" back as "\n", so a mask read from the card must already be what they give, or export would take
# every CRLF field for an edited one and write it afresh. The card itself is kept byte for byte beside it.
_LINE_ENDING = re.compile(r"\r\n?")


def mask_from_card(card: dict[str, Any], image: bytes | None, where: str, filename: str) -> Mask:
    """The mask a parsed card gives, keeping the card (and its PNG `image`); `where` names it in errors."""
    spec = card.get("spec")
    data = card_data(card, where)
    fields = fields_from_card(data, where)
    fields.update(_extension(data, where))
    name_source = _text(data, "name", where).strip() or _text(data, "nickname", where).strip()
    values = {
        "name": _mask_name(name_source, filename),
        **fields,
        "card": card,
        "card_image": base64.b64encode(image).decode("ascii") if image is not None else None,
    }
    try:
        return Mask.model_validate(values)
    except ValidationError as e:
        spec_name = spec if isinstance(spec, str) else "V1"
        raise MaskError(f"{where}: {spec_name} card: {describe_validation_error(e)}") from e


def card_data(card: dict[str, Any], where: str) -> dict[str, Any]:
    """The card's fields: the object itself for V1, its `data` for V2 and V3."""
    spec = card.get("spec")
    if spec is None:
        if not isinstance(card.get("name"), str):
            raise MaskError(f"{where}: not a character card: no 'spec', and no V1 'name' text")
        return {key: card[key] for key in V1_FIELDS if key in card}
    if spec not in (V2_SPEC, V3_SPEC):
        shown = json.dumps(spec, ensure_ascii=False)
        shown = shown if len(shown) <= 60 else shown[:57] + "..."
        raise MaskError(f"{where}: unknown card spec {shown}; expected {V2_SPEC!r}, {V3_SPEC!r} or a V1 card")
    data = card.get("data")
    if not isinstance(data, dict):
        raise MaskError(f"{where}: {spec} card has no 'data' object")
    return data


def fields_from_card(data: dict[str, Any], where: str) -> dict[str, Any]:
    """The mask fields the card's own fields give, before any `extensions.simulacra`."""
    text = {field: _text(data, field, where) for field in _TEXT_FIELDS}
    version = _text(data, "character_version", where)
    name = text["name"].strip()
    nickname = _text(data, "nickname", where).strip()  # V3: `{{char}}` is the nickname when there is one
    character = nickname or name or "Character"
    frame = _frame(*(_macros(text[field]) for field in ("description", "personality", "scenario")))
    system = _macros(_ORIGINAL_MACRO.sub("", text["system_prompt"])).strip()
    after = _macros(_ORIGINAL_MACRO.sub("", text["post_history_instructions"])).strip()
    speakers = {spelled for spelled in (name, nickname) if spelled}
    return {
        "description": text["creator_notes"],
        "shows": "",
        "frame": frame,
        "user_name": "User",
        "character_name": character,
        "examples": [turn.model_dump() for turn in _parse_examples(_macros(text["mes_example"]), speakers)],
        "greeting": _macros(text["first_mes"]),
        "turn_format": Mask.model_fields["turn_format"].default,
        "stop": [],
        # A chat model reads the card's system prompt and then the persona, as SillyTavern sends them.
        "system_prompt": (system + "\n\n" + frame).strip() if system else None,
        "tags": _text_list(data, "tags", where),
        "author": text["creator"],
        "version": version or "1",
        "alternate_greetings": [_macros(greeting) for greeting in _text_list(data, "alternate_greetings", where)],
        "post_history_instructions": after or None,
    }


def _extension(data: dict[str, Any], where: str) -> dict[str, Any]:
    """Mask fields a Simulacra export stored in `extensions.simulacra`."""
    extensions = data.get("extensions")
    if extensions is None:
        return {}
    if not isinstance(extensions, dict):
        raise MaskError(f"{where}: 'extensions' must be an object, not {_json_type(extensions)}")
    carried = extensions.get(EXTENSION_KEY)
    if carried is None:
        return {}
    if not isinstance(carried, dict):
        raise MaskError(f"{where}: 'extensions.{EXTENSION_KEY}' must be an object, not {_json_type(carried)}")
    unknown = sorted(set(carried) - set(CARRIED))
    if unknown:
        raise MaskError(f"{where}: 'extensions.{EXTENSION_KEY}' has unknown keys: {', '.join(unknown)}")
    return dict(carried)


def _text(data: dict[str, Any], field: str, where: str) -> str:
    value = data.get(field)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise MaskError(f"{where}: card field '{field}' must be text, not {_json_type(value)}")
    return _LINE_ENDING.sub("\n", value)


def _text_list(data: dict[str, Any], field: str, where: str) -> list[str]:
    value = data.get(field)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise MaskError(f"{where}: card field '{field}' must be a list of texts")
    return [_LINE_ENDING.sub("\n", item) for item in value]


def _macros(text: str) -> str:
    """Card speaker macros, any case (`{{Char}}`, `<BOT>`, `<user>`), spelled the way `Mask.fill` reads them."""
    return _CARD_MACRO.sub(lambda m: "{{char}}" if (m[1] or m[2]).lower() in ("char", "bot") else "{{user}}", text)


def _frame(description: str, personality: str, scenario: str) -> str:
    """The document preamble a card's persona fields make, laid out as SillyTavern's default story string."""
    parts = [description.strip()]
    if personality.strip():
        parts.append("{{char}}'s personality: " + personality.strip())
    if scenario.strip():
        parts.append("Scenario: " + scenario.strip())
    body = "\n".join(part for part in parts if part)
    return body + "\n\n" if body else ""


def _parse_examples(text: str, character_names: set[str]) -> list[HistoryTurn]:
    """`<START>`-separated dialogues of `{{user}}: ...` / `{{char}}: ...` lines as example turns.

    A line that names no speaker continues the turn above it; one before any speaker is the character's.
    """
    prefixes = [("{{user}}:", "user"), ("{{char}}:", "character")]
    prefixes += [(f"{name}:", "character") for name in sorted(character_names)]
    turns: list[HistoryTurn] = []
    for block in _START.split(text):
        role: str | None = None
        lines: list[str] = []
        for line in block.split("\n"):
            stripped = line.lstrip()
            speaker = next(((p, r) for p, r in prefixes if stripped.lower().startswith(p.lower())), None)
            if speaker is not None:
                _add_turn(turns, role, lines)
                role, lines = speaker[1], [stripped[len(speaker[0]) :].lstrip()]
            elif role is not None or line.strip():
                role = role or "character"
                lines.append(line)
        _add_turn(turns, role, lines)
    return turns


def _add_turn(turns: list[HistoryTurn], role: str | None, lines: list[str]) -> None:
    text = "\n".join(lines).strip()
    if text and role in ("user", "character"):
        turns.append(HistoryTurn(role="user" if role == "user" else "character", text=text))


def _slug(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii").lower()
    return re.sub(r"[^a-z0-9_.-]+", "-", ascii_text).strip("-_.")[:64].rstrip("-_.")


def _mask_name(card_name: str, filename: str) -> str:
    """A mask name from the card's name (else the file's); never a built-in's, which user masks cannot take."""
    slug = _slug(card_name) or _slug(Path(filename).stem) or "card"
    return f"{slug}-card" if is_builtin(slug) else slug
