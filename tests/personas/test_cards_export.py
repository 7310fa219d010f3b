# Character cards go back to the apps they came from: an imported card exports as JSON or PNG with every field,
# character_book and unknown extensions unchanged, edited fields are written afresh, the original picture is kept,
# and every built-in mask exports as a card and comes back the same.

from __future__ import annotations

import copy
import io
import json
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from personas.cards.files import card_from_mask, export_card_json, export_card_png, import_card, import_card_bytes
from personas.catalog import builtin_names, load_mask
from personas.mask import HistoryTurn, Mask
from tests.support.cards import (
    CARDS,
    CASES,
    V2,
    V2_DATA,
    V2_DEFAULTS,
    card_chunk,
    card_data,
    png_texts,
    png_with_text,
    write_card,
)


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
