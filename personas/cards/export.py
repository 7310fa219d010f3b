# A mask as a character card: an imported card comes back as it was, with only the fields edited since
# written afresh, and mask fields the card cannot say carried in `extensions.simulacra`.

from __future__ import annotations

import copy
import re
from typing import Any

from personas.cards.fields import (
    CARRIED,
    EXTENSION_KEY,
    V1_FIELDS,
    V2_SPEC,
    V3_SPEC,
    card_data,
    fields_from_card,
    mask_from_card,
)
from personas.mask import Mask, MaskError

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
_EMPTY: dict[str, Any] = {"alternate_greetings": [], "tags": [], "extensions": {}}

_MASK_MACRO = re.compile(r"(?<!\{)\{(user|char)\}(?!\})")


def exported_card(mask: Mask) -> dict[str, Any]:
    """The card a mask exports: an imported V2 or V3 card as it came, in its own spec, with only the fields
    edited since import written afresh; anything else (a V1 card, or no card) as a V2 card.

    An imported V2 or V3 card not edited since is given back exactly: its nulls, key order, character_book,
    unknown extensions and other keys included.
    """
    original, before = _original(mask)
    current = _carried(mask)
    spec = original.get("spec") if original is not None else None
    if original is not None and spec is not None and current == before:
        return copy.deepcopy(original)
    source = card_data(original, "the stored card") if original is not None else {}
    data = _edited_data(mask, source, before, current)
    if spec is None:  # V1 or a new card: every V2 field, empty unless the mask says otherwise
        for field in V2_FIELDS:
            if field not in data:
                data[field] = copy.deepcopy(_EMPTY.get(field, ""))
    _carry_in_extension(data, current)

    if original is None:
        return {"spec": V2_SPEC, "spec_version": "2.0", "data": data}
    if spec is None:  # V1: the top level held the fields; keep its other keys beside them
        card = {"spec": V2_SPEC, "spec_version": "2.0", "data": data}
        extras = {key: value for key, value in original.items() if key not in (*V1_FIELDS, *card)}
        return card | copy.deepcopy(extras)
    top = copy.deepcopy(original) | {"spec": spec, "data": data}
    top.setdefault("spec_version", "3.0" if spec == V3_SPEC else "2.0")
    for field in V1_FIELDS:  # SillyTavern mirrors the V1 fields at the top level; refresh the edited ones
        if field in top and data.get(field) != source.get(field):
            top[field] = copy.deepcopy(data[field])
    return top


def as_v2(card: dict[str, Any]) -> dict[str, Any]:
    """A V3 card's V2 twin (what a PNG's `chara` chunk holds beside its `ccv3`); other cards as they are."""
    return card | {"spec": V2_SPEC, "spec_version": "2.0"} if card.get("spec") == V3_SPEC else card


def card_from_mask(mask: Mask) -> dict[str, Any]:
    """The mask as a V2 card, `{"spec": "chara_card_v2", ..., "data": {...}}`: `exported_card`, with a V3
    card as its V2 twin."""
    return as_v2(exported_card(mask))


def _edited_data(
    mask: Mask, source: dict[str, Any], before: dict[str, Any] | None, current: dict[str, Any]
) -> dict[str, Any]:
    """The card's `data`: the stored card's with each group of fields whose mask fields were edited written
    afresh, or every field from the mask when there is no stored card."""
    fresh = _fresh_fields(mask)
    data: dict[str, Any] = copy.deepcopy(source) if source else dict(fresh)
    for mask_fields, card_fields in _GROUPS:
        if before is not None and all(current[field] == before[field] for field in mask_fields):
            continue
        if card_fields[0] == "name":
            nickname = data.get("nickname")
            data["nickname" if isinstance(nickname, str) and nickname.strip() else "name"] = mask.character_name
        else:
            data.update({field: fresh[field] for field in card_fields})
    return data


def _original(mask: Mask) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """The stored card and the mask fields it gave on import; none if there is no card or it no longer parses."""
    if mask.card is None:
        return None, None
    try:
        return mask.card, _carried(mask_from_card(mask.card, None, "the stored card", mask.name))
    except MaskError:
        return None, None


def _carried(mask: Mask) -> dict[str, Any]:
    return mask.model_dump(mode="json", include=set(CARRIED))


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
    gives = _carried(Mask.model_validate({"name": "card", **fields_from_card(data, "the exported card")}))
    differ = {field: current[field] for field in CARRIED if current[field] != gives[field]}
    extensions = data.get("extensions")
    if not differ:
        if isinstance(extensions, dict):
            extensions.pop(EXTENSION_KEY, None)
        return
    if not isinstance(extensions, dict):  # a card's `extensions: null` (or none) can hold nothing
        extensions = data["extensions"] = {}
    if extensions.get(EXTENSION_KEY) != differ:
        extensions[EXTENSION_KEY] = differ
