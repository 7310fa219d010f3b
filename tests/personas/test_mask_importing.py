# Files handed to the library through the Masks page or `simulacra masks import`: a bad file is one clear
# error and nothing in the masks folder; a good one never overwrites a mask already there.

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from personas.catalog import builtin_names, delete_user_mask, free_name, list_masks, load_mask, mask_to_toml
from personas.importing import import_into_library, read_mask_bytes
from personas.mask import MaskError
from tests.support.cards import card_chunk, png_with_text

PIRATE = b'description = "A pirate captain."\nframe = "Log of the Black Gull.\\n\\n"\ncharacter_name = "Captain"\n'
CARD = {"spec": "chara_card_v2", "spec_version": "2.0", "data": {"name": "Aqua", "description": "{{char}} is water."}}


def claims_too_much() -> bytes:
    data = bytearray(png_with_text({"chara": card_chunk(CARD)}))
    at = data.index(b"tEXtchara") - 4
    data[at : at + 4] = (10 * len(data)).to_bytes(4, "big")
    return bytes(data)


FAILURES = [
    ("broken.toml", b'description = "never closed\nframe = [\n', r"mask file broken\.toml is not valid TOML"),
    ("colour.toml", PIRATE + b'colour = "red"\n', r"mask file colour\.toml: colour: unknown key"),
    ("bad-value.toml", b'turn_format = "{name}: "\n', r"bad-value\.toml: turn_format: must contain \{text\}"),
    ("latin1.toml", 'description = "Zoë"\n'.encode("latin-1"), r"mask file latin1\.toml is not UTF-8 text"),
    ("huge.toml", b"#" * (20 * 1024 * 1024 + 1), r"huge\.toml: mask file is 20971521 bytes; the limit is 20 MB"),
    ("huge.json", b" " * (20 * 1024 * 1024 + 1), r"huge\.json: card file is 20971521 bytes; the limit is 20 MB"),
    ("plain.png", png_with_text({"Comment": "a photo"}), r"plain\.png: the PNG holds no character card"),
    ("b64.png", png_with_text({"chara": "%%% not base64"}), r"b64\.png \(chara chunk\) is not valid base64"),
    ("json.png", png_with_text({"chara": base64.b64encode(b"{nope").decode()}), r"\(chara chunk\) is not valid JSON"),
    ("bad.json", b'{"spec": "chara_card_v2", "data": {', r"bad\.json is not valid JSON"),
    ("latin1.json", '{"name": "Zoë"}'.encode("latin-1"), r"latin1\.json is not UTF-8 text"),
    ("claims.png", claims_too_much(), r"claims \d+ bytes, but the file has only \d+"),
]


@pytest.mark.parametrize(("filename", "data", "message"), FAILURES, ids=[f[0] for f in FAILURES])
def test_a_bad_file_is_one_clear_error_and_nothing_is_saved(
    tmp_path: Path, filename: str, data: bytes, message: str
) -> None:
    user_dir = tmp_path / "masks"
    with pytest.raises(MaskError, match=message) as error:
        import_into_library(data, filename, user_dir)
    assert "\n" not in str(error.value) and len(str(error.value)) < 300
    assert not user_dir.exists()


def test_a_toml_file_takes_its_file_name_and_never_overwrites(tmp_path: Path) -> None:
    user_dir = tmp_path / "masks"
    first, path = import_into_library(PIRATE, "pirate.toml", user_dir)
    second, _ = import_into_library(PIRATE.replace(b"Captain", b"Bosun"), "pirate.toml", user_dir)
    assert (first.name, second.name) == ("pirate", "pirate-2")
    assert path == user_dir / "pirate.toml"
    assert load_mask("pirate", user_dir).character_name == "Captain"
    assert load_mask("pirate-2", user_dir).character_name == "Bosun"


def test_a_builtin_exported_and_imported_comes_back_as_a_copy(tmp_path: Path) -> None:
    user_dir = tmp_path / "masks"
    exported = mask_to_toml(load_mask("assistant")).encode("utf-8")
    mask, _ = import_into_library(exported, "assistant.toml", user_dir)
    assert mask.name == "assistant-2"
    assert load_mask("assistant-2", user_dir).model_dump(exclude={"name"}) == load_mask("assistant").model_dump(
        exclude={"name"}
    )


def test_cards_import_under_their_own_name(tmp_path: Path) -> None:
    user_dir = tmp_path / "masks"
    data = png_with_text({"chara": card_chunk(CARD)})
    names = [import_into_library(data, "whatever.png", user_dir)[0].name for _ in range(2)]
    assert names == ["aqua", "aqua-2"]
    assert [m.name for m in list_masks(user_dir)][-2:] == ["aqua", "aqua-2"]
    assert read_mask_bytes(data, "x.png").preamble() == "Aqua is water.\n\n"


def test_free_names_skip_builtins_and_files(tmp_path: Path) -> None:
    assert free_name("assistant", tmp_path) == "assistant-2"
    (tmp_path / "x.toml").write_text("", encoding="utf-8")
    (tmp_path / "x-2.toml").write_text("", encoding="utf-8")
    assert free_name("x", tmp_path, also_taken={"x-3"}) == "x-4"
    assert free_name("fresh", None) == "fresh"
    assert free_name("a" * 64, tmp_path) == "a" * 64


def test_delete_removes_only_user_masks(tmp_path: Path) -> None:
    import_into_library(PIRATE, "pirate.toml", tmp_path)
    delete_user_mask("pirate", tmp_path)
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(MaskError, match="no user mask called 'pirate'"):
        delete_user_mask("pirate", tmp_path)
    with pytest.raises(MaskError, match="'assistant' is a built-in mask; built-ins cannot be deleted"):
        delete_user_mask("assistant", tmp_path)
    with pytest.raises(MaskError, match="no user mask"):
        delete_user_mask("../outside", tmp_path)
    assert "assistant" in builtin_names()
