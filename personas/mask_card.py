# How a mask file keeps the character card it was imported from: the card's JSON, base64, under `card_json`.
#
# Why there, and why so. In the mask's own TOML file rather than a sidecar `<name>.card.json`: one file is one
# mask, so saving, renaming, duplicating and deleting it, the TOML export and download, and importing that
# TOML elsewhere all carry the card with nothing to keep in step and no stale sidecar for a later mask of the
# same name to pick up. As JSON text rather than a TOML table: TOML has no null and writes sub-tables after
# plain keys, so a table loses a card's nulls and key order. Base64 rather than a TOML string: no editor or
# TOML writer can re-wrap it or change its line endings, and it reads as what it is, the card as it came, not a
# field to edit (the editable fields are the TOML keys beside it). The card image is kept the same way.
# Old files that hold the card as a `[card]` table still load.

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from personas.bounded import parse_json_object, too_deep
from personas.errors import MaskError

CARD_KEY = "card_json"


def card_to_toml(card: dict[str, Any], mask_name: str) -> str:
    """The card as a mask file stores it: base64 of its JSON, key order and nulls as they are.

    Raises:
        MaskError: the card holds something JSON cannot (only possible for a card built in code).
    """
    try:
        text = json.dumps(card, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
        return base64.b64encode(text.encode("utf-8")).decode("ascii")
    except (TypeError, ValueError, RecursionError) as e:
        raise MaskError(f"mask {mask_name}: its character card cannot be written as JSON: {e}") from e


def card_from_toml(data: dict[str, Any], where: str) -> None:
    """Replace a mask file's `card_json` with the card it holds, as the Mask's `card` field.

    Raises:
        MaskError: `card_json` beside a `card` table, not base64, not a JSON object, or too deep; or a `card`
            table that JSON cannot hold (a TOML date) or that is too deep.
    """
    if CARD_KEY not in data:
        card = data.get("card")
        if isinstance(card, dict):
            _check_json(card, where)
        return
    stored = data.pop(CARD_KEY)
    if "card" in data:
        raise MaskError(f"mask file {where}: give the character card once, as {CARD_KEY} or as card, not both")
    if not isinstance(stored, str):
        raise MaskError(f"mask file {where}: {CARD_KEY} must be base64 text of the card's JSON")
    try:
        raw = base64.b64decode("".join(stored.split()), validate=True)
    except (binascii.Error, ValueError) as e:
        raise MaskError(f"mask file {where}: {CARD_KEY} is not valid base64: {e}") from e
    data["card"] = parse_json_object(raw, f"mask file {where} ({CARD_KEY})")


def _check_json(card: dict[str, Any], where: str) -> None:
    if too_deep(card):
        raise MaskError(f"mask file {where}: card is nested too deeply to be a character card")
    try:
        json.dumps(card, ensure_ascii=False, allow_nan=False).encode("utf-8")
    except (TypeError, ValueError) as e:
        raise MaskError(f"mask file {where}: card holds a value a JSON character card cannot: {e}") from e
