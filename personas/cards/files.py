# People keep personas as SillyTavern character cards: open V1/V2/V3 cards as masks and give them back unchanged.
# Card files in and out; fields.py and export.py map a card's fields to a mask's, png.py the PNG container.

from __future__ import annotations

import base64
import binascii
import json
from pathlib import Path
from typing import Any

from personas.bounded import MAX_FILE_BYTES, parse_json_object, read_limited
from personas.cards.export import as_v2, card_from_mask, exported_card
from personas.cards.fields import V3_SPEC, mask_from_card
from personas.cards.png import (
    PNG_SIGNATURE,
    card_chunk,
    is_card_chunk,
    join_chunks,
    placeholder,
    png_chunks,
    text_chunk,
)
from personas.mask import Mask, MaskError

__all__ = [
    "MAX_CARD_BYTES",
    "card_from_mask",
    "export_card_json",
    "export_card_png",
    "exported_card",
    "import_card",
    "import_card_bytes",
]

MAX_CARD_BYTES = MAX_FILE_BYTES


def import_card(path: Path) -> Mask:
    """Read a character card file (JSON, or PNG with a `ccv3` or `chara` text chunk) as a mask.

    Raises:
        MaskError: the file is unreadable, over 20 MB, or not a valid V1/V2/V3 card (the message says why).
    """
    return import_card_bytes(read_limited(path, "card file"), path.name)


def import_card_bytes(data: bytes, filename: str) -> Mask:
    """A card's bytes as a mask; `filename` names it in errors and gives a mask name when the card's won't do.

    The mask keeps the original card (and PNG image) so `exported_card` gives back every field.

    Raises:
        MaskError: over 20 MB, malformed JSON or PNG, no card chunk, bad base64, not UTF-8, unknown spec,
            nested more than 64 levels, or fields of the wrong type.
    """
    if len(data) > MAX_CARD_BYTES:
        raise MaskError(f"{filename}: card file is {len(data)} bytes; the limit is 20 MB")
    image: bytes | None = None
    where = filename
    if data.startswith(PNG_SIGNATURE) or filename.lower().endswith(".png"):
        chunks = png_chunks(data, filename)
        keyword, payload = card_chunk(chunks, filename)
        where = f"{filename} ({keyword} chunk)"
        data = _unbase64(payload, where)
        image = join_chunks(chunk for chunk in chunks if not is_card_chunk(chunk))
    card = parse_json_object(data, where)
    return mask_from_card(card, image, where, filename)


def _unbase64(payload: bytes, where: str) -> bytes:
    try:
        return base64.b64decode(b"".join(payload.split()), validate=True)
    except (binascii.Error, ValueError) as e:
        raise MaskError(f"{where} is not valid base64: {e}") from e


def export_card_json(mask: Mask) -> bytes:
    """The mask as a JSON card file (UTF-8): an imported V2 or V3 card in its own spec, else a V2 card.

    An imported card not edited since gives back its JSON exactly (parsed: nulls, key order and unknown keys).
    """
    return json.dumps(exported_card(mask), ensure_ascii=False, indent=2).encode("utf-8")


def export_card_png(mask: Mask) -> bytes:
    """The mask as a PNG card: the V2 card in a `chara` text chunk, plus the V3 card in a `ccv3` chunk if it
    came from V3, as SillyTavern writes them.

    The picture is the imported card's own, byte for byte, or a generated placeholder.

    Raises:
        MaskError: the mask's stored card image is not base64 of a PNG.
    """
    card = exported_card(mask)
    chunks = [text_chunk(b"chara", _base64_json(as_v2(card)))]
    if card.get("spec") == V3_SPEC:
        chunks.append(text_chunk(b"ccv3", _base64_json(card)))
    try:
        image = base64.b64decode(mask.card_image, validate=True) if mask.card_image else placeholder(mask)
    except (binascii.Error, ValueError) as e:
        raise MaskError(f"mask {mask.name}: its card image is not valid base64: {e}") from e
    kept = [chunk for chunk in png_chunks(image, f"the image of mask {mask.name}") if not is_card_chunk(chunk)]
    return join_chunks([*kept[:-1], *chunks, kept[-1]])


def _base64_json(card: dict[str, Any]) -> bytes:
    return base64.b64encode(json.dumps(card, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))
