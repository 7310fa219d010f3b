# One way in for a file a person hands us (a mask TOML file or a character card), shared by the CLI and the
# Masks page, so both refuse the same files with the same message and never overwrite a mask already there.

from __future__ import annotations

from pathlib import Path

from personas.cards.files import MAX_CARD_BYTES, import_card_bytes
from personas.catalog import free_name, is_valid_name, save_user_mask
from personas.mask import Mask, MaskError, parse_mask_toml

__all__ = ["import_into_library", "read_mask_bytes"]


def read_mask_bytes(data: bytes, filename: str) -> Mask:
    """A mask from a file's bytes: `*.toml` is a mask file, anything else a character card (JSON or PNG).

    Raises:
        MaskError: over 20 MB, not UTF-8, malformed TOML, unknown or invalid keys, or not a valid card;
            one message that names the file and what is wrong.
    """
    if not filename.lower().endswith(".toml"):
        return import_card_bytes(data, filename)
    if len(data) > MAX_CARD_BYTES:
        raise MaskError(f"{filename}: mask file is {len(data)} bytes; the limit is 20 MB")
    try:
        text = data.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as e:
        raise MaskError(f"mask file {filename} is not UTF-8 text: {e}") from e
    return parse_mask_toml(text, filename, default_name=_stem_name(filename))


def import_into_library(data: bytes, filename: str, user_dir: Path) -> tuple[Mask, Path]:
    """Read a mask or card file and save it as a user mask, under a name not yet taken (`aqua`, `aqua-2`, ...).

    Nothing is written unless the whole file is valid.

    Raises:
        MaskError: the file is not a valid mask or card (see `read_mask_bytes`), or cannot be saved.
    """
    mask = read_mask_bytes(data, filename)
    name = free_name(mask.name, user_dir)
    if name != mask.name:
        mask = mask.model_copy(update={"name": name})
    return mask, save_user_mask(mask, user_dir)


def _stem_name(filename: str) -> str | None:
    """The file's name as a mask name, if it is a valid one (`pirate.toml` -> `pirate`)."""
    stem = Path(filename).stem
    return stem if is_valid_name(stem) else None
