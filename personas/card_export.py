# A mask as a V2 character card: an imported card comes back as it was, with only the fields edited since
# written afresh, and mask fields the card cannot say carried in `extensions.simulacra`.

from __future__ import annotations

import copy
import re
from typing import Any

from personas.card_import import (
    CARRIED,
    EXTENSION_KEY,
    V1_FIELDS,
    V2_SPEC,
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


def card_from_mask(mask: Mask) -> dict[str, Any]:
    """The mask as a V2 card: `{"spec": "chara_card_v2", "spec_version": "2.0", "data": {...}}`.

    An imported card comes back as it was (its character_book, unknown extensions and other keys
    included), with only the fields edited since import written afresh.
    """
    original, before = _original(mask)
    current = _carried(mask)
    fresh = _fresh_fields(mask)
    source = card_data(original, "the stored card") if original is not None else {}
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
    extensions = data["extensions"]
    if not differ:
        extensions.pop(EXTENSION_KEY, None)
    elif extensions.get(EXTENSION_KEY) != differ:
        extensions[EXTENSION_KEY] = differ
