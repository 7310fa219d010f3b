# Cards as SillyTavern and other apps really write them: JSON nulls (TOML has none) inside character_book
# entries and elsewhere, nested extensions of apps we do not know, and key orders of their own. Each version goes
# into the masks folder through the same door as the CLI and the Masks page, is read back from its file, renders,
# and exports to exactly the card that came in.

from __future__ import annotations

import base64
import copy
import io
import json
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from personas.cards.files import export_card_json, export_card_png
from personas.catalog import delete_user_mask, list_masks, load_mask, mask_to_toml, save_user_mask
from personas.importing import import_into_library
from personas.mask import HistoryTurn, Mask
from tests.support.cards import card_chunk, png_with_text

# A world-info entry as SillyTavern 1.12 saves it: several of its own settings are null.
ENTRY_EXTENSIONS: dict[str, Any] = {
    "position": 0,
    "exclude_recursion": False,
    "display_index": 0,
    "probability": 100,
    "useProbability": True,
    "depth": 4,
    "selectiveLogic": 0,
    "group": "",
    "group_override": False,
    "group_weight": 100,
    "prevent_recursion": False,
    "delay_until_recursion": False,
    "scan_depth": None,
    "match_whole_words": None,
    "use_group_scoring": False,
    "case_sensitive": None,
    "automation_id": "",
    "role": 0,
    "vectorized": False,
    "sticky": None,
    "cooldown": None,
    "delay": None,
}
BOOK: dict[str, Any] = {
    "entries": [
        {
            "id": 0,
            "keys": ["glade", "forest"],
            "secondary_keys": [],
            "comment": "The glade",
            "content": "{{char}} guards an enchanted glade.",
            "constant": False,
            "selective": True,
            "insertion_order": 100,
            "enabled": True,
            "position": "before_char",
            "use_regex": True,
            "extensions": ENTRY_EXTENSIONS,
        },
        {
            "id": 1,
            "keys": ["shadow"],
            "secondary_keys": None,
            "comment": None,
            "content": "Shadowy creatures.",
            "constant": None,
            "selective": True,
            "insertion_order": 50,
            "enabled": True,
            "position": None,
            "extensions": {**ENTRY_EXTENSIONS, "triggers": [], "outlet_name": None},
        },
    ],
    "name": "Seraphina's glade",
    "description": None,
    "scan_depth": None,
    "extensions": {},
}
# Keys in the order the app wrote them, deliberately not sorted and not in the spec's order.
DATA: dict[str, Any] = {
    "name": "Seraphina",
    "description": "{{char}} is a guardian of the forest. {{char}} found {{user}} wounded.",
    "personality": "kind, protective",
    "scenario": "{{user}} wakes in {{char}}'s glade.",
    "first_mes": "*{{char}} kneels beside {{user}}* You're awake.",
    "mes_example": "<START>\n{{user}}: Who are you?\n{{char}}: I am Seraphina.",
    "creator_notes": None,
    "system_prompt": None,
    "post_history_instructions": "",
    "tags": ["fantasy", "guardian"],
    "creator": "",
    "character_version": "1.0.0",
    "alternate_greetings": [],
    "extensions": {
        "talkativeness": "0.5",
        "fav": False,
        "world": None,
        "depth_prompt": {"prompt": "", "depth": 4, "role": "system"},
        "chub": {"id": 12345, "full_path": None, "related": [{"lorebook": None, "expressions": [None, {"a": None}]}]},
    },
    "group_only_greetings": [],
    "character_book": BOOK,
}
V1: dict[str, Any] = {
    "name": "Seraphina",
    "description": DATA["description"],
    "personality": None,
    "scenario": DATA["scenario"],
    "first_mes": DATA["first_mes"],
    "mes_example": None,
    "avatar": "none",
    "chat": None,
    "metadata": {"tool": {"name": "TavernAI", "flags": None}},
}
V2: dict[str, Any] = {  # SillyTavern's own order: the V1 mirror first, then spec, data and its date
    **{key: DATA[key] for key in ("name", "description", "personality", "scenario", "first_mes", "mes_example")},
    "creatorcomment": None,
    "avatar": "none",
    "chat": None,
    "talkativeness": "0.5",
    "fav": False,
    "tags": DATA["tags"],
    "spec": "chara_card_v2",
    "spec_version": "2.0",
    "data": DATA,
    "create_date": "2024-7-4 @18h 22m 10s 123ms",
}
V3: dict[str, Any] = {
    "spec": "chara_card_v3",
    "spec_version": "3.0",
    "data": {
        **DATA,
        "nickname": None,
        "creator_notes_multilingual": {"ja": None},
        "source": None,
        "assets": [{"type": "icon", "uri": "ccdefault:", "name": "main", "ext": "png"}],
        "creation_date": None,
        "modification_date": 1720000000,
    },
}


def card_file(version: str) -> tuple[str, bytes, dict[str, Any]]:
    """The file a user would hand us for one version (file name, bytes) and the card it holds."""
    if version == "v1-json":
        return "seraphina.json", json.dumps(V1, indent=4).encode(), V1
    if version == "v2-json":
        return "seraphina.json", json.dumps(V2, ensure_ascii=False).encode(), V2
    if version == "v2-png":
        return "seraphina.png", png_with_text({"chara": card_chunk(V2)}), V2
    twin = V3 | {"spec": "chara_card_v2", "spec_version": "2.0"}  # as SillyTavern writes V3: V2 beside it
    return "seraphina.png", png_with_text({"chara": card_chunk(twin), "ccv3": card_chunk(V3)}), V3


def exactly(value: Any) -> str:
    """A JSON value as text with its keys in their order: equal texts are equal values in the same order."""
    return json.dumps(value, ensure_ascii=False)


def png_cards(data: bytes) -> dict[str, Any]:
    image = Image.open(io.BytesIO(data))
    image.load()
    return {key: json.loads(base64.b64decode(value)) for key, value in image.text.items()}  # type: ignore[attr-defined]


def imported(tmp_path: Path, version: str) -> tuple[Mask, dict[str, Any]]:
    """The card imported into a masks folder, and the mask as the library then reads it from its file."""
    filename, data, card = card_file(version)
    mask, path = import_into_library(data, filename, tmp_path)
    assert path == tmp_path / "seraphina.toml"
    return load_mask(mask.name, tmp_path), card


@pytest.mark.parametrize("version", ["v1-json", "v2-json", "v2-png", "v3-png"])
def test_a_card_with_nulls_imports_renders_and_keeps_its_card(tmp_path: Path, version: str) -> None:
    original = copy.deepcopy(card_file(version)[2])
    mask, card = imported(tmp_path, version)

    document = mask.render([HistoryTurn(role="user", text="Where am I?")])
    assert document.startswith("Seraphina is a guardian of the forest. Seraphina found User wounded.\n")
    assert "Seraphina: *Seraphina kneels beside User* You're awake.\n" in document
    assert document.endswith("User: Where am I?\nSeraphina:")
    assert exactly(mask.card) == exactly(original) and card == original  # nothing the import did changed it
    # The file stores the card once and reads back to the same file: saving again changes no byte.
    path = tmp_path / "seraphina.toml"
    assert mask_to_toml(mask) == path.read_text(encoding="utf-8")
    assert [m.name for m in list_masks(tmp_path)][-1] == "seraphina"


@pytest.mark.parametrize("version", ["v2-json", "v2-png", "v3-png"])
def test_an_unedited_card_exports_exactly_as_it_came(tmp_path: Path, version: str) -> None:
    mask, original = imported(tmp_path, version)

    assert exactly(json.loads(export_card_json(mask))) == exactly(original)
    chunks = png_cards(export_card_png(mask))
    if version == "v3-png":
        assert exactly(chunks["ccv3"]) == exactly(original)
        assert exactly(chunks["chara"]) == exactly(original | {"spec": "chara_card_v2", "spec_version": "2.0"})
    else:
        assert exactly(chunks["chara"]) == exactly(original) and "ccv3" not in chunks


def test_a_v1_card_exports_as_the_v2_card_holding_it(tmp_path: Path) -> None:
    mask, original = imported(tmp_path, "v1-json")
    fields = ("name", "description", "personality", "scenario", "first_mes", "mes_example")
    expected = {
        "spec": "chara_card_v2",
        "spec_version": "2.0",
        "data": {key: original[key] for key in fields}  # nulls kept
        | {
            "creator_notes": "",
            "system_prompt": "",
            "post_history_instructions": "",
            "alternate_greetings": [],
            "tags": [],
            "creator": "",
            "character_version": "",
            "extensions": {},
        },
        "avatar": "none",  # the V1 file's other keys, beside the card
        "chat": None,
        "metadata": {"tool": {"name": "TavernAI", "flags": None}},
    }
    assert exactly(json.loads(export_card_json(mask))) == exactly(expected)
    assert exactly(png_cards(export_card_png(mask))["chara"]) == exactly(expected)


def test_edits_are_written_into_the_card_and_everything_else_is_kept(tmp_path: Path) -> None:
    mask, original = imported(tmp_path, "v2-png")
    mask.greeting = "You're safe here, {{user}}."
    mask.frame = "{{char}} tends a moonlit glade.\n\n"
    save_user_mask(mask, tmp_path)
    exported = json.loads(export_card_json(load_mask("seraphina", tmp_path)))

    data = exported["data"]
    assert (data["first_mes"], data["description"]) == (
        "You're safe here, {{user}}.",
        "{{char}} tends a moonlit glade.",
    )
    assert (exported["first_mes"], exported["description"]) == (data["first_mes"], data["description"])  # mirror
    assert list(exported) == list(original) and list(data) == list(original["data"])
    assert exactly(data["character_book"]) == exactly(BOOK)
    assert exactly(data["extensions"]) == exactly(DATA["extensions"])
    unchanged = {"first_mes", "description", "personality", "scenario"}
    assert {k: v for k, v in data.items() if k not in unchanged} == {
        k: v for k, v in original["data"].items() if k not in unchanged
    }
    assert exported["creatorcomment"] is None and exported["create_date"] == V2["create_date"]


def test_the_card_follows_its_mask_through_rename_duplicate_and_delete(tmp_path: Path) -> None:
    mask, original = imported(tmp_path, "v3-png")
    # As the Masks page renames (save under the new name, delete the old file) and duplicates (save a copy).
    save_user_mask(mask.model_copy(update={"name": "guardian"}), tmp_path)
    delete_user_mask("seraphina", tmp_path)
    save_user_mask(load_mask("guardian", tmp_path).model_copy(update={"name": "guardian-copy"}, deep=True), tmp_path)

    assert sorted(p.name for p in tmp_path.iterdir()) == ["guardian-copy.toml", "guardian.toml"]  # one file each
    for name in ("guardian", "guardian-copy"):
        assert exactly(json.loads(export_card_json(load_mask(name, tmp_path)))) == exactly(original)
    delete_user_mask("guardian", tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["guardian-copy.toml"]  # nothing left behind


def test_a_mask_file_exported_and_imported_elsewhere_keeps_the_card(tmp_path: Path) -> None:
    mask, original = imported(tmp_path / "here", "v2-json")
    again, _ = import_into_library(mask_to_toml(mask).encode("utf-8"), "seraphina.toml", tmp_path / "there")
    assert exactly(json.loads(export_card_json(again))) == exactly(original)


def test_old_mask_files_with_a_card_table_still_load(tmp_path: Path) -> None:
    card = {"spec": "chara_card_v2", "spec_version": "2.0", "data": {"name": "Ada", "extensions": {"x": 1}}}
    (tmp_path / "ada.toml").write_text(
        'character_name = "Ada"\n[card]\nspec = "chara_card_v2"\nspec_version = "2.0"\n'
        '[card.data]\nname = "Ada"\n[card.data.extensions]\nx = 1\n',
        encoding="utf-8",
    )
    mask = load_mask("ada", tmp_path)
    assert mask.card == card
    assert json.loads(export_card_json(mask)) == card
    assert "card_json = " in mask_to_toml(mask)  # saved again in the lossless form
