# Cards written on Windows hold "\r\n" line endings. A mask file and a browser's text box both give them back
# as "\n"; a card imported, kept in the library (or edited elsewhere) and exported must still give back every
# field the user did not edit byte for byte, as SillyTavern's own default card shows (issue 17).

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from personas.cards.files import export_card_json, export_card_png, import_card_bytes
from personas.catalog import load_mask, save_user_mask
from personas.importing import import_into_library
from personas.mask import HistoryTurn
from tests.support.cards import GUARDIAN, card_chunk, png_texts, png_with_text


def guardian_png() -> bytes:
    return png_with_text({"chara": card_chunk(GUARDIAN)}, colour="pink", size=(40, 60))


@pytest.mark.parametrize("kind", ["json", "png"])
def test_a_crlf_card_kept_in_the_library_exports_unchanged(tmp_path: Path, kind: str) -> None:
    original = copy.deepcopy(GUARDIAN)
    data = guardian_png() if kind == "png" else json.dumps(GUARDIAN, indent=4).encode("utf-8")
    imported, _ = import_into_library(data, f"default_Guardian.{kind}", tmp_path)
    mask = load_mask(imported.name, tmp_path)  # what the Masks page and the CLI export from

    exported = json.loads(export_card_json(mask))
    assert exported == original
    assert exported["data"]["description"].count("\r\n") == 7
    assert png_texts(export_card_png(mask))["chara"] == original


def test_the_saved_mask_reads_the_same_document_as_the_fresh_import(tmp_path: Path) -> None:
    fresh = import_card_bytes(guardian_png(), "default_Guardian.png")
    save_user_mask(fresh, tmp_path)
    kept = load_mask(fresh.name, tmp_path)

    history = [HistoryTurn(role="user", text="Where am I?")]
    assert kept.render(history) == fresh.render(history)
    assert "\r" not in fresh.render(history)


def test_an_edit_rewrites_only_its_own_field(tmp_path: Path) -> None:
    imported, _ = import_into_library(guardian_png(), "default_Guardian.png", tmp_path)
    mask = load_mask(imported.name, tmp_path)
    mask.greeting = '*You wake.* "Rest," {{char}} says.'
    save_user_mask(mask, tmp_path)

    exported = json.loads(export_card_json(load_mask(mask.name, tmp_path)))
    assert exported["data"]["first_mes"] == exported["first_mes"] == mask.greeting
    assert exported["data"]["description"] == exported["description"] == GUARDIAN["data"]["description"]
    assert exported["data"]["character_book"] == GUARDIAN["data"]["character_book"]
