# Character cards are untrusted files: a malformed, mistyped, oversized or missing card, a PNG without a card
# or with a chunk that lies about its size, and a broken stored image each fail with one clear MaskError and
# save nothing; a V1 card with stray spec keys still exports as V2.

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from personas.cards.files import card_from_mask, export_card_png, import_card, import_card_bytes
from personas.mask import MaskError
from tests.support.cards import V2, card_chunk, png_with_text, write_card


def chunk_claiming_too_much() -> bytes:
    data = bytearray(png_with_text({"chara": card_chunk(V2)}))
    at = data.index(b"tEXtchara") - 4
    data[at : at + 4] = (len(data) * 2).to_bytes(4, "big")
    return bytes(data)


FAILURES = [
    ("malformed.json", b'{"spec": "chara_card_v2", "data": {"name": "A"', r"malformed\.json is not valid JSON"),
    ("array.json", b'[{"name": "A"}]', r"a character card is a JSON object, not an array"),
    ("spec.json", json.dumps({"spec": "chara_card_v9", "data": {"name": "A"}}).encode(), r"unknown card spec"),
    ("nothing.json", b'{"hello": "world"}', r"not a character card"),
    ("no-data.json", b'{"spec": "chara_card_v2", "data": "A"}', r"chara_card_v2 card has no 'data' object"),
    ("tags.json", json.dumps({"name": "A", "spec": "chara_card_v2", "data": {"tags": "a,b"}}).encode(), r"'tags'"),
    ("type.json", b'{"name": "A", "first_mes": 3}', r"card field 'first_mes' must be text, not a number"),
    ("nan.json", b'{"name": "A", "extensions": NaN}', r"not valid JSON"),
    ("latin1.json", '{"name": "Zoë"}'.encode("latin-1"), r"latin1\.json is not UTF-8 text"),
    ("surrogate.json", b'{"name": "\\ud800"}', r"not valid Unicode"),
    ("deep.json", b'{"name": "A", "x": ' + b"[" * 100 + b"]" * 100 + b"}", r"nested more than 64 levels"),
    (
        "plain.png",
        png_with_text({"Comment": "just a picture"}),
        r"no character card \(no 'ccv3' or 'chara' text chunk\)",
    ),
    ("b64.png", png_with_text({"chara": "not base64 at all!"}), r"b64\.png \(chara chunk\) is not valid base64"),
    ("json.png", png_with_text({"chara": base64.b64encode(b"{nope").decode()}), r"\(chara chunk\) is not valid JSON"),
    ("utf.png", png_with_text({"ccv3": base64.b64encode(b'{"n": "\xff"}').decode()}), r"\(ccv3 chunk\) is not UTF-8"),
    ("claims.png", chunk_claiming_too_much(), r"PNG chunk 'tEXt' at byte \d+ claims \d+ bytes, but the file has only"),
    ("cut.png", png_with_text({"chara": card_chunk(V2)})[:-20], r"claims|cut short"),
    ("fake.png", b'{"name": "A"}', r"fake\.png is not a PNG file"),
]


@pytest.mark.parametrize(("filename", "data", "message"), FAILURES, ids=[f[0] for f in FAILURES])
def test_bad_cards_fail_with_one_clear_error_and_save_nothing(
    tmp_path: Path, filename: str, data: bytes, message: str
) -> None:
    path = tmp_path / filename
    path.write_bytes(data)
    with pytest.raises(MaskError, match=message) as error:
        import_card(path)
    assert "\n" not in str(error.value) and len(str(error.value)) < 300
    assert sorted(tmp_path.iterdir()) == [path]


def test_file_over_20_mb_is_refused_before_reading(tmp_path: Path) -> None:
    path = tmp_path / "huge.png"
    with path.open("wb") as file:
        file.truncate(4 * 1024**3)  # sparse: reading it all would take seconds and gigabytes
    with pytest.raises(MaskError, match=r"huge\.png: card file is 4294967296 bytes; the limit is 20 MB"):
        import_card(path)
    with pytest.raises(MaskError, match=r"the limit is 20 MB"):
        import_card_bytes(b"{" + b" " * (20 * 1024 * 1024), "big.json")


def test_missing_file_is_a_mask_error(tmp_path: Path) -> None:
    with pytest.raises(MaskError, match=r"cannot read card file"):
        import_card(tmp_path / "absent.json")


def test_v1_card_with_stray_spec_keys_exports_as_v2() -> None:
    card = {"name": "Ada", "spec": None, "spec_version": "1.0", "data": "junk", "avatar": "none"}
    exported = card_from_mask(import_card_bytes(json.dumps(card).encode(), "ada.json"))
    assert (exported["spec"], exported["spec_version"], exported["data"]["name"]) == ("chara_card_v2", "2.0", "Ada")
    assert exported["avatar"] == "none"


def test_a_broken_stored_image_is_a_mask_error(tmp_path: Path) -> None:
    mask = import_card(write_card(tmp_path, "v2", "png"))
    mask.card_image = "%%% not base64"
    with pytest.raises(MaskError, match=r"mask aqua: its card image is not valid base64"):
        export_card_png(mask)
    mask.card_image = base64.b64encode(b"GIF89a").decode()
    with pytest.raises(MaskError, match=r"the image of mask aqua is not a PNG file"):
        export_card_png(mask)
