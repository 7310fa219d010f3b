# The catalog is where a missing or hand-edited mask file surfaces: errors must name the mask,
# the file and the bad key, and a broken user file must never hide the built-ins.

from __future__ import annotations

from pathlib import Path

import pytest

from personas import catalog
from personas.catalog import builtin_names, is_builtin, list_masks, load_mask, user_mask_problems
from personas.mask import MaskError, load_mask_file

PIRATE = """description = "A pirate captain."
shows = "Dialect."
frame = "Log of the Black Gull.\\n\\n"
character_name = "Captain"
"""


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / f"{name}.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_unknown_mask_names_the_available_ones() -> None:
    with pytest.raises(MaskError) as error:
        load_mask("pirate")
    message = str(error.value)
    assert "unknown mask 'pirate'" in message
    assert "available: " in message
    for name in builtin_names():
        assert name in message


def test_unknown_mask_lists_user_masks_too(tmp_path: Path) -> None:
    write(tmp_path, "pirate", PIRATE)
    with pytest.raises(MaskError, match=r"unknown mask 'parrot'.*pirate"):
        load_mask("parrot", tmp_path)


def test_user_masks_follow_builtins_sorted(tmp_path: Path) -> None:
    write(tmp_path, "zebra", 'description = "z"\n')
    write(tmp_path, "pirate", PIRATE)
    names = [mask.name for mask in list_masks(tmp_path)]
    assert names == [*builtin_names(), "pirate", "zebra"]
    assert load_mask("pirate", tmp_path).character_name == "Captain"
    assert not is_builtin("pirate")
    assert is_builtin("assistant")


def test_listing_without_a_user_folder(tmp_path: Path) -> None:
    assert [mask.name for mask in list_masks()] == builtin_names()
    assert [mask.name for mask in list_masks(tmp_path / "missing")] == builtin_names()
    assert user_mask_problems(None) == []


def test_unknown_key_is_named(tmp_path: Path) -> None:
    path = write(tmp_path, "pirate", PIRATE + 'colour = "red"\n')
    for load in (lambda: load_mask("pirate", tmp_path), lambda: load_mask_file(path)):
        with pytest.raises(MaskError) as error:
            load()
        assert "colour" in str(error.value)
        assert "unknown key" in str(error.value)
        assert str(path) in str(error.value)


def test_malformed_toml(tmp_path: Path) -> None:
    write(tmp_path, "broken", 'description = "never closed\nframe = [\n')
    with pytest.raises(MaskError, match="not valid TOML"):
        load_mask("broken", tmp_path)


def test_invalid_value_is_named(tmp_path: Path) -> None:
    write(tmp_path, "noreply", 'turn_format = "{name}: "\n')
    with pytest.raises(MaskError, match=r"turn_format: .*\{text\}"):
        load_mask("noreply", tmp_path)


def test_broken_user_files_are_left_out_of_the_list_and_reported(tmp_path: Path) -> None:
    write(tmp_path, "pirate", PIRATE)
    write(tmp_path, "colourful", 'colour = "red"\n')
    write(tmp_path, "broken", "= nope")
    names = [mask.name for mask in list_masks(tmp_path)]
    assert names == [*builtin_names(), "pirate"]
    problems = sorted(str(problem) for problem in user_mask_problems(tmp_path))
    assert len(problems) == 2
    assert "broken.toml" in problems[0] and "not valid TOML" in problems[0]
    assert "colour: unknown key" in problems[1]


def test_user_masks_cannot_shadow_builtins(tmp_path: Path) -> None:
    write(tmp_path, "assistant", 'description = "an impostor"\ncharacter_name = "Eve"\n')
    masks = list_masks(tmp_path)
    assert [mask.name for mask in masks].count("assistant") == 1
    assert load_mask("assistant", tmp_path).character_name == "Ada"
    (problem,) = user_mask_problems(tmp_path)
    assert "built-in" in str(problem) and "assistant" in str(problem)


def test_name_must_match_the_file(tmp_path: Path) -> None:
    write(tmp_path, "pirate", 'name = "assistant"\n')
    with pytest.raises(MaskError, match="does not match the file name"):
        load_mask("pirate", tmp_path)


def test_a_name_is_never_a_path(tmp_path: Path) -> None:
    user_dir = tmp_path / "masks"
    user_dir.mkdir()
    write(tmp_path, "outside", PIRATE)
    with pytest.raises(MaskError, match="unknown mask"):
        load_mask("../outside", user_dir)


def test_builtins_are_parsed_once_and_handed_out_as_copies() -> None:
    load_mask("assistant")
    before = catalog._builtins.cache_info()
    for _ in range(3):
        list_masks()
    mask = load_mask("assistant")
    assert catalog._builtins.cache_info().misses == before.misses

    mask.character_name = "Mallory"
    mask.examples.clear()
    fresh = load_mask("assistant")
    assert fresh.character_name == "Ada"
    assert fresh.examples
