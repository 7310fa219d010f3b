# Mask files and cards are read by parsers that recurse once per level and read whatever they are given: a deep
# or huge file must be one MaskError naming it, and one such file in the masks folder must leave the rest of the
# library working.

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from personas.cards.files import import_card, import_card_bytes
from personas.catalog import builtin_names, list_masks, load_mask, save_user_mask, user_mask_problems
from personas.importing import import_into_library
from personas.mask import Mask, MaskError, load_mask_file
from tests.support.cards import card_chunk, png_with_text

DEEP = 5000


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


DEEP_JSON = b'{"a":' * DEEP + b"1" + b"}" * DEEP
BAD_MASK_FILES = {
    "arrays": ("stop = " + "[" * DEEP + "]" * DEEP, "nested more than 64 levels"),
    "tables": ("frame = " + "{ a = " * DEEP + "1" + " }" * DEEP, "nested more than 64 levels"),
    "dotted": (".".join(["card"] * 100) + " = 1", "nested more than 64 levels"),
    "headers": ("[" + ".".join(["card"] * 100) + "]", "nested more than 64 levels"),
    "digits": ("version = " + "1" * DEEP, "not valid TOML: Exceeds the limit"),
    "card-deep": (f'card_json = "{b64(DEEP_JSON)}"', r"\(card_json\) is nested more than 64 levels"),
    "card-b64": ('card_json = "%%%"', "card_json is not valid base64"),
    "card-array": (f'card_json = "{b64(b"[1, 2]")}"', "a character card is a JSON object, not an array"),
    "card-twice": (f'card_json = "{b64(b"{}")}"\n[card]\nspec = "x"', "give the character card once"),
    "card-date": ("[card]\nwhen = 1979-05-27", "card holds a value a JSON character card cannot"),
}


@pytest.mark.parametrize("name", list(BAD_MASK_FILES))
def test_a_bad_mask_file_is_one_error_naming_it(tmp_path: Path, name: str) -> None:
    text, message = BAD_MASK_FILES[name]
    path = tmp_path / f"{name}.toml"
    path.write_text(text, encoding="utf-8")
    for load in (lambda: load_mask_file(path), lambda: load_mask(name, tmp_path)):
        with pytest.raises(MaskError, match=message) as error:
            load()
        assert str(path) in str(error.value) and "\n" not in str(error.value)
    with pytest.raises(MaskError, match=message):
        import_into_library(text.encode("utf-8"), f"{name}.toml", tmp_path / "library")
    assert not (tmp_path / "library").exists()


def test_bad_files_in_the_folder_are_skipped_and_each_reported(tmp_path: Path) -> None:
    (tmp_path / "pirate.toml").write_text('character_name = "Captain"\n', encoding="utf-8")
    for name, (text, _) in BAD_MASK_FILES.items():
        (tmp_path / f"{name}.toml").write_text(text, encoding="utf-8")
    huge = tmp_path / "huge.toml"
    with huge.open("wb") as file:
        file.truncate(21 * 1024 * 1024)  # sparse: over the limit without writing it

    assert [mask.name for mask in list_masks(tmp_path)] == [*builtin_names(), "pirate"]
    problems = [str(problem) for problem in user_mask_problems(tmp_path)]
    assert len(problems) == len(BAD_MASK_FILES) + 1
    for name in [*BAD_MASK_FILES, "huge"]:
        assert sum(str(tmp_path / f"{name}.toml") in problem for problem in problems) == 1, name
    assert f"{huge}: mask file is 22020096 bytes; the limit is 20 MB" in problems


def test_a_mask_file_that_would_be_over_the_limit_is_never_written(tmp_path: Path) -> None:
    image = b64(b"\x89PNG" + bytes(16 * 1024 * 1024))  # about 21 MB once in base64
    with pytest.raises(
        MaskError, match=r"cannot save mask 'big': its file would be at least \d+ bytes .* limit is 20 MB"
    ):
        save_user_mask(Mask(name="big", card={"name": "Big"}, card_image=image), tmp_path)
    assert list(tmp_path.iterdir()) == []


DEEP_CARDS = {
    "brackets.json": b"[" * 1_000_000,
    "object.json": DEEP_JSON,
    "inside.json": json.dumps({"name": "A", "extensions": {"x": []}}).encode().replace(b"[]", DEEP_JSON),
    "sixty-five.json": b'{"name": "A", "x": ' + b"[" * 64 + b"]" * 64 + b"}",
}


@pytest.mark.parametrize("filename", list(DEEP_CARDS))
def test_a_deep_card_is_one_error_naming_it(tmp_path: Path, filename: str) -> None:
    path = tmp_path / filename
    path.write_bytes(DEEP_CARDS[filename])
    with pytest.raises(MaskError, match=rf"{filename} is nested more than 64 levels deep"):
        import_card(path)
    png = png_with_text({"chara": b64(DEEP_CARDS[filename])})
    with pytest.raises(MaskError, match=r"card\.png \(chara chunk\) is nested more than 64 levels deep"):
        import_card_bytes(png, "card.png")


def test_a_card_64_levels_deep_is_accepted() -> None:
    card = {"name": "A", "x": json.loads("[" * 63 + "]" * 63)}  # the card is level 1, `x` levels 2 to 64
    mask = import_card_bytes(png_with_text({"chara": card_chunk(card)}), "card.png")
    assert mask.card == card


@pytest.mark.parametrize(
    ("filename", "data"),
    [
        ("many.json", b'{"name": "A", "messages": [' + b", ".join([b"{}"] * 600_000) + b"]}"),
        ("many.toml", b"stop = [" + b", ".join([b'""'] * 600_000) + b"]"),
    ],
)
def test_a_file_of_more_values_than_any_card_is_one_error(tmp_path: Path, filename: str, data: bytes) -> None:
    # A 2 MB card of `{}` decoded is half a million dicts, and more again for the walk that checks their depth.
    with pytest.raises(MaskError, match=rf"^{filename}: \w+ file holds more than 500,000 values; no mask or"):
        import_into_library(data, filename, tmp_path / "library")
    assert not (tmp_path / "library").exists()
