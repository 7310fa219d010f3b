# People keep personas as SillyTavern character cards: open V1/V2/V3 cards as masks and give them back unchanged.

from __future__ import annotations

import base64
import binascii
import copy
import hashlib
import io
import json
import math
import re
import struct
import unicodedata
import zlib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw, ImageFont
from pydantic import ValidationError

from personas.catalog import is_builtin
from personas.mask import HistoryTurn, Mask, MaskError, describe_validation_error

__all__ = [
    "MAX_CARD_BYTES",
    "card_from_mask",
    "export_card_json",
    "export_card_png",
    "import_card",
    "import_card_bytes",
]

MAX_CARD_BYTES = 20 * 1024 * 1024
V2_SPEC, V3_SPEC = "chara_card_v2", "chara_card_v3"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
CARD_CHUNKS = (b"ccv3", b"chara")  # in order of preference: a V3 chunk wins over the V2/V1 one
# Real cards nest a few levels (character_book entries); a limit keeps copying and serialising safe.
MAX_DEPTH = 64
Chunk = tuple[bytes, bytes, bytes]  # a PNG chunk: (type, body, the whole chunk as stored)

V1_FIELDS = ("name", "description", "personality", "scenario", "first_mes", "mes_example")
V2_FIELDS = (
    *V1_FIELDS,
    "creator_notes",
    "system_prompt",
    "post_history_instructions",
    "alternate_greetings",
    "tags",
    "creator",
    "character_version",
    "extensions",
)
_TEXT_FIELDS = (*V1_FIELDS, "creator_notes", "system_prompt", "post_history_instructions", "creator")

# Which mask fields each group of card fields becomes. On export an unchanged mask field gives back its
# card fields exactly as they were; an edited one is written afresh from the mask.
_GROUPS: tuple[tuple[tuple[str, ...], tuple[str, ...]], ...] = (
    (("frame",), ("description", "personality", "scenario")),
    (("character_name",), ("name", "nickname")),
    (("greeting",), ("first_mes",)),
    (("examples",), ("mes_example",)),
    (("alternate_greetings",), ("alternate_greetings",)),
    (("system_prompt",), ("system_prompt",)),
    (("post_history_instructions",), ("post_history_instructions",)),
    (("description",), ("creator_notes",)),
    (("tags",), ("tags",)),
    (("author",), ("creator",)),
    (("version",), ("character_version",)),
)
# Mask fields a card cannot always say in its own words; those that differ from what the card gives
# ride along in `extensions.simulacra`, so mask -> card -> mask is exact too.
_CARRIED = (
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
_EMPTY: dict[str, Any] = {"alternate_greetings": [], "tags": [], "extensions": {}}

_CARD_MACRO = re.compile(r"\{\{(char|user)\}\}|<(bot|user)>", re.IGNORECASE)
_ORIGINAL_MACRO = re.compile(r"\{\{original\}\}", re.IGNORECASE)
_MASK_MACRO = re.compile(r"(?<!\{)\{(user|char)\}(?!\})")
_START = re.compile(r"<start>", re.IGNORECASE)


# -- import ------------------------------------------------------------------------------------


def import_card(path: Path) -> Mask:
    """Read a character card file (JSON, or PNG with a `ccv3` or `chara` text chunk) as a mask.

    Raises:
        MaskError: the file is unreadable, over 20 MB, or not a valid V1/V2/V3 card (the message says why).
    """
    try:
        size = path.stat().st_size
        if size > MAX_CARD_BYTES:
            raise MaskError(f"{path.name}: card file is {size} bytes; the limit is 20 MB")
        with path.open("rb") as file:
            data = file.read(MAX_CARD_BYTES + 1)
    except OSError as e:
        raise MaskError(f"cannot read card file {path}: {e}") from e
    return import_card_bytes(data, path.name)


def import_card_bytes(data: bytes, filename: str) -> Mask:
    """A card's bytes as a mask; `filename` names it in errors and gives a mask name when the card's won't do.

    The mask keeps the original card (and PNG image) so `card_from_mask` gives back every field.

    Raises:
        MaskError: over 20 MB, malformed JSON or PNG, no card chunk, bad base64, not UTF-8, unknown spec,
            or fields of the wrong type.
    """
    if len(data) > MAX_CARD_BYTES:
        raise MaskError(f"{filename}: card file is {len(data)} bytes; the limit is 20 MB")
    image: bytes | None = None
    where = filename
    if data.startswith(PNG_SIGNATURE) or filename.lower().endswith(".png"):
        chunks = _png_chunks(data, filename)
        keyword, payload = _card_chunk(chunks, filename)
        where = f"{filename} ({keyword} chunk)"
        data = _unbase64(payload, where)
        image = _join_chunks(chunk for chunk in chunks if not _is_card_chunk(chunk))
    card = _parse_json(data, where)
    return _mask_from_card(card, image, where, filename)


def _parse_json(data: bytes, where: str) -> dict[str, Any]:
    try:
        text = data.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as e:
        raise MaskError(f"{where} is not UTF-8 text: {e}") from e
    try:
        value = json.loads(text, parse_constant=_reject_constant, parse_float=_finite_float)
        # Lone surrogates (`"\ud800"`) parse but can never be written back as UTF-8.
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except RecursionError as e:
        raise MaskError(f"{where} is nested too deeply to be a character card") from e
    except UnicodeEncodeError as e:
        raise MaskError(f"{where} holds text that is not valid Unicode: {e.reason}") from e
    except ValueError as e:
        raise MaskError(f"{where} is not valid JSON: {e}") from e
    if not isinstance(value, dict):
        raise MaskError(f"{where}: a character card is a JSON object, not {_json_type(value)}")
    if _depth_exceeds(value, MAX_DEPTH):
        raise MaskError(f"{where} is nested more than {MAX_DEPTH} levels deep; no character card is")
    return value


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text[:20]} is too large a number")
    return value


def _depth_exceeds(value: Any, limit: int) -> bool:
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return True
        if isinstance(item, dict):
            stack.extend((child, depth + 1) for child in item.values())
        elif isinstance(item, list):
            stack.extend((child, depth + 1) for child in item)
    return False


def _json_type(value: Any) -> str:
    names = {dict: "an object", list: "an array", str: "a string", bool: "true or false", int: "a number"}
    return "null" if value is None else names.get(type(value), "a number")


def _mask_from_card(card: dict[str, Any], image: bytes | None, where: str, filename: str) -> Mask:
    spec = card.get("spec")
    data = _card_data(card, where)
    fields = _mask_fields(data, where)
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


def _card_data(card: dict[str, Any], where: str) -> dict[str, Any]:
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


def _mask_fields(data: dict[str, Any], where: str) -> dict[str, Any]:
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
    unknown = sorted(set(carried) - set(_CARRIED))
    if unknown:
        raise MaskError(f"{where}: 'extensions.{EXTENSION_KEY}' has unknown keys: {', '.join(unknown)}")
    return dict(carried)


def _text(data: dict[str, Any], field: str, where: str) -> str:
    value = data.get(field)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise MaskError(f"{where}: card field '{field}' must be text, not {_json_type(value)}")
    return value


def _text_list(data: dict[str, Any], field: str, where: str) -> list[str]:
    value = data.get(field)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise MaskError(f"{where}: card field '{field}' must be a list of texts")
    return list(value)


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
    for block in _START.split(text.replace("\r\n", "\n")):
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


# -- export ------------------------------------------------------------------------------------


def card_from_mask(mask: Mask) -> dict[str, Any]:
    """The mask as a V2 card: `{"spec": "chara_card_v2", "spec_version": "2.0", "data": {...}}`.

    An imported card comes back as it was (its character_book, unknown extensions and other keys
    included), with only the fields edited since import written afresh.
    """
    original, before = _original(mask)
    current = _carried(mask)
    fresh = _fresh_fields(mask)
    source = _card_data(original, "the stored card") if original is not None else {}
    data: dict[str, Any] = copy.deepcopy(source) if source else dict(fresh)
    for mask_fields, card_fields in _GROUPS:
        if before is not None and all(current[field] == before[field] for field in mask_fields):
            continue
        if card_fields[0] == "name":
            nickname = data.get("nickname")
            data["nickname" if isinstance(nickname, str) and nickname.strip() else "name"] = mask.character_name
        else:
            data.update({field: fresh[field] for field in card_fields})
    for field in V2_FIELDS:  # fields the card lacked (a V1 card has no V2 ones) stay empty unless edited
        if field not in data:
            data[field] = copy.deepcopy(_EMPTY.get(field, ""))
    if not isinstance(data["extensions"], dict):
        data["extensions"] = {}
    _carry_in_extension(data, current)

    card: dict[str, Any] = {"spec": V2_SPEC, "spec_version": "2.0", "data": data}
    if original is None:
        return card
    if original.get("spec") is None:  # V1: the top level held the fields; keep its other keys beside them
        extras = {key: value for key, value in original.items() if key not in (*V1_FIELDS, *card)}
        return card | copy.deepcopy(extras)
    top = copy.deepcopy(original) | card
    for field in V1_FIELDS:  # SillyTavern mirrors the V1 fields at the top level; refresh the edited ones
        if field in top and data.get(field) != source.get(field):
            top[field] = copy.deepcopy(data[field])
    return top


def export_card_json(mask: Mask) -> bytes:
    """The mask as a V2 JSON card file (UTF-8)."""
    return json.dumps(card_from_mask(mask), ensure_ascii=False, indent=2).encode("utf-8")


def export_card_png(mask: Mask) -> bytes:
    """The mask as a PNG card: the V2 card in a `chara` text chunk, plus a `ccv3` chunk if it came from V3.

    The picture is the imported card's own, byte for byte, or a generated placeholder.

    Raises:
        MaskError: the mask's stored card image is not base64 of a PNG.
    """
    card = card_from_mask(mask)
    chunks = [_text_chunk(b"chara", _base64_json(card))]
    if mask.card is not None and mask.card.get("spec") == V3_SPEC:
        v3 = card | {"spec": V3_SPEC, "spec_version": mask.card.get("spec_version", "3.0")}
        chunks.append(_text_chunk(b"ccv3", _base64_json(v3)))
    try:
        image = base64.b64decode(mask.card_image, validate=True) if mask.card_image else _placeholder(mask)
    except (binascii.Error, ValueError) as e:
        raise MaskError(f"mask {mask.name}: its card image is not valid base64: {e}") from e
    kept = [chunk for chunk in _png_chunks(image, f"the image of mask {mask.name}") if not _is_card_chunk(chunk)]
    return _join_chunks([*kept[:-1], *chunks, kept[-1]])


def _original(mask: Mask) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """The stored card and the mask fields it gave on import; none if there is no card or it no longer parses."""
    if mask.card is None:
        return None, None
    try:
        return mask.card, _carried(_mask_from_card(mask.card, None, "the stored card", mask.name))
    except MaskError:
        return None, None


def _carried(mask: Mask) -> dict[str, Any]:
    return mask.model_dump(mode="json", include=set(_CARRIED))


def _fresh_fields(mask: Mask) -> dict[str, Any]:
    """Every V2 field written from the mask alone."""
    system = mask.system_prompt or ""
    frame = mask.frame.strip()
    if frame and system.endswith(frame):  # the persona is in the description already; do not send it twice
        system = system[: -len(frame)].rstrip()
    examples = [("{{user}}: " if t.role == "user" else "{{char}}: ") + _card_text(t.text) for t in mask.examples]
    return {
        "name": mask.character_name,
        "description": _card_text(frame),
        "personality": "",
        "scenario": "",
        "first_mes": _card_text(mask.greeting),
        "mes_example": "\n".join(["<START>", *examples]) if examples else "",
        "creator_notes": mask.description,
        "system_prompt": _card_text(system),
        "post_history_instructions": _card_text(mask.post_history_instructions or ""),
        "alternate_greetings": [_card_text(greeting) for greeting in mask.alternate_greetings],
        "tags": list(mask.tags),
        "creator": mask.author,
        "character_version": mask.version,
        "extensions": {},
    }


def _card_text(text: str) -> str:
    """Mask text for other apps: the mask-only `{user}`/`{char}` become `{{user}}`/`{{char}}`."""
    return _MASK_MACRO.sub(r"{{\1}}", text)


def _carry_in_extension(data: dict[str, Any], current: dict[str, Any]) -> None:
    """Store in `extensions.simulacra` the mask fields that the card's own fields would not give back."""
    gives = _carried(Mask.model_validate({"name": "card", **_mask_fields(data, "the exported card")}))
    differ = {field: current[field] for field in _CARRIED if current[field] != gives[field]}
    extensions = data["extensions"]
    if not differ:
        extensions.pop(EXTENSION_KEY, None)
    elif extensions.get(EXTENSION_KEY) != differ:
        extensions[EXTENSION_KEY] = differ


def _base64_json(card: dict[str, Any]) -> bytes:
    return base64.b64encode(json.dumps(card, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))


def _placeholder(mask: Mask) -> bytes:
    """A 400x600 portrait: the character's initial and name on a colour picked from the name."""
    name = mask.character_name.strip() or mask.name
    digest = hashlib.sha256(name.encode("utf-8")).digest()
    image = Image.new("RGB", (400, 600), tuple(48 + byte % 128 for byte in digest[:3]))
    draw = ImageDraw.Draw(image)
    big, small = ImageFont.load_default(size=220), ImageFont.load_default(size=36)
    if isinstance(big, ImageFont.FreeTypeFont) and isinstance(small, ImageFont.FreeTypeFont):
        draw.text((200, 270), name[:1].upper(), fill="white", font=big, anchor="mm")
        draw.text((200, 520), name[:18], fill="white", font=small, anchor="mm")
    else:  # Pillow built without FreeType has only a small bitmap font
        draw.text((20, 20), name[:40], fill="white", font=big)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


# -- PNG chunks --------------------------------------------------------------------------------
# Parsed by hand: a card file is untrusted input, and only its text chunks matter, never the pixels.


def _png_chunks(data: bytes, where: str) -> list[Chunk]:
    """Every chunk from IHDR to IEND, each checked to lie inside the file.

    Raises:
        MaskError: not a PNG, a chunk running past the end of the file, or no IHDR / IEND.
    """
    if not data.startswith(PNG_SIGNATURE):
        raise MaskError(f"{where} is not a PNG file (no PNG signature)")
    chunks: list[Chunk] = []
    position = len(PNG_SIGNATURE)
    while not chunks or chunks[-1][0] != b"IEND":
        if position + 12 > len(data):
            raise MaskError(f"{where}: PNG file is cut short at byte {position} (no IEND chunk)")
        length, kind = struct.unpack(">I4s", data[position : position + 8])
        end = position + 12 + length
        if end > len(data):
            raise MaskError(
                f"{where}: PNG chunk {kind.decode('latin-1')!r} at byte {position} claims {length} bytes,"
                f" but the file has only {len(data) - position - 12} after its header"
            )
        chunks.append((kind, data[position + 8 : end - 4], data[position:end]))
        if len(chunks) == 1 and kind != b"IHDR":
            raise MaskError(f"{where}: PNG file does not start with an IHDR chunk")
        position = end
    return chunks


def _is_card_chunk(chunk: Chunk) -> bool:
    kind, body, _ = chunk
    return kind == b"tEXt" and body.partition(b"\0")[0] in CARD_CHUNKS


def _card_chunk(chunks: list[Chunk], where: str) -> tuple[str, bytes]:
    """The keyword and text of the card chunk, `ccv3` preferred over `chara`."""
    found: dict[bytes, Chunk] = {}
    for chunk in chunks:
        if _is_card_chunk(chunk):
            found.setdefault(chunk[1].partition(b"\0")[0], chunk)
    for keyword in CARD_CHUNKS:
        if keyword in found:
            kind, body, raw = found[keyword]
            if zlib.crc32(kind + body) != struct.unpack(">I", raw[-4:])[0]:
                raise MaskError(f"{where}: the PNG {keyword.decode()!r} chunk is corrupt (its CRC does not match)")
            return keyword.decode("ascii"), body.partition(b"\0")[2]
    raise MaskError(f"{where}: the PNG holds no character card (no 'ccv3' or 'chara' text chunk)")


def _unbase64(payload: bytes, where: str) -> bytes:
    try:
        return base64.b64decode(b"".join(payload.split()), validate=True)
    except (binascii.Error, ValueError) as e:
        raise MaskError(f"{where} is not valid base64: {e}") from e


def _text_chunk(keyword: bytes, text: bytes) -> Chunk:
    body = keyword + b"\0" + text
    raw = struct.pack(">I", len(body)) + b"tEXt" + body + struct.pack(">I", zlib.crc32(b"tEXt" + body))
    return b"tEXt", body, raw


def _join_chunks(chunks: Iterable[Chunk]) -> bytes:
    return PNG_SIGNATURE + b"".join(chunk[2] for chunk in chunks)
