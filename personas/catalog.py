# The one place that knows where masks live: the built-in library shipped in the package and the
# user's own folder. Built-ins are parsed once per process because the UI lists them on every rerun.

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from personas.bounded import MAX_FILE_BYTES
from personas.mask import Mask, MaskError, load_mask_file
from personas.mask_card import CARD_KEY, card_to_toml
from personas.names import is_name

__all__ = [
    "builtin_dir",
    "builtin_names",
    "delete_user_mask",
    "free_name",
    "is_builtin",
    "is_valid_name",
    "list_masks",
    "load_mask",
    "mask_to_toml",
    "save_user_mask",
    "user_mask_problems",
]


def is_valid_name(name: str) -> bool:
    """Whether `name` can name a mask (and so its file): lower-case letters, digits, `-`, `_`, `.`."""
    return is_name(name)


def builtin_dir() -> Path:
    """The folder of built-in mask files, one `<name>.toml` each."""
    return Path(__file__).resolve().parent / "library"


@lru_cache(maxsize=1)
def _builtins() -> dict[str, Mask]:
    """Every built-in mask by name, parsed once.

    Raises:
        MaskError: a built-in file is broken (a packaging bug, never the user's doing).
    """
    return {mask.name: mask for mask in (_load_file(path) for path in _toml_files(builtin_dir()))}


def builtin_names() -> list[str]:
    """Names of the built-in masks, sorted."""
    return sorted(_builtins())


def is_builtin(name: str) -> bool:
    return name in _builtins()


def list_masks(user_dir: Path | None = None) -> list[Mask]:
    """Built-in masks, then the user's masks from `user_dir/*.toml`, each group sorted by name.

    A user file that is broken, or that has a built-in's name (user masks never shadow built-ins),
    is left out rather than breaking the list; `user_mask_problems` says why.
    Returned masks are copies: editing one never changes the cached library.
    """
    masks = [_builtins()[name].model_copy(deep=True) for name in builtin_names()]
    user_masks, _ = _scan_user_dir(user_dir)
    return masks + [user_masks[name] for name in sorted(user_masks)]


def user_mask_problems(user_dir: Path | None) -> list[MaskError]:
    """Why each left-out user mask file was left out of `list_masks`, one error per file."""
    return _scan_user_dir(user_dir)[1]


def load_mask(name: str, user_dir: Path | None = None) -> Mask:
    """The mask called `name`: a built-in, else `user_dir/<name>.toml`. Returns a fresh copy.

    Raises:
        MaskError: no such mask (the message lists the available ones), or its file is broken.
    """
    builtins = _builtins()
    if name in builtins:
        return builtins[name].model_copy(deep=True)
    if user_dir is not None and is_name(name):  # before the name becomes a path
        path = user_dir / f"{name}.toml"
        if path.is_file():
            return _load_file(path)
    available = [mask.name for mask in list_masks(user_dir)]
    raise MaskError(f"unknown mask {name!r}; available: {', '.join(available)}")


def _scan_user_dir(user_dir: Path | None) -> tuple[dict[str, Mask], list[MaskError]]:
    masks: dict[str, Mask] = {}
    problems: list[MaskError] = []
    if user_dir is None or not user_dir.is_dir():
        return masks, problems
    builtins = _builtins()
    for path in _toml_files(user_dir):
        if path.stem in builtins:
            problems.append(
                MaskError(
                    f"mask file {path} has the name of the built-in mask {path.stem!r};"
                    " user masks cannot replace built-ins, rename the file and its `name`"
                )
            )
            continue
        try:
            masks[path.stem] = _load_file(path)
        except MaskError as e:
            problems.append(e)
    return masks, problems


def _toml_files(folder: Path) -> list[Path]:
    return sorted(path for path in folder.glob("*.toml") if path.is_file())


def _load_file(path: Path) -> Mask:
    """Load one mask file whose `name`, if given, must match the file name.

    Raises:
        MaskError: for any failure at all, so one bad file in the folder is one reported problem and never
            takes the library (the masks list, the Masks page, Compare) down with it.
    """
    try:
        mask = load_mask_file(path)
    except MaskError:
        raise
    except Exception as e:  # a parser or validator bug this file found: still only this file's problem
        raise MaskError(f"mask file {path} cannot be read: {type(e).__name__}: {e}") from e
    if mask.name != path.stem:
        raise MaskError(f"mask file {path}: name {mask.name!r} does not match the file name {path.stem!r}")
    return mask


def mask_to_toml(mask: Mask) -> str:
    """The mask as a TOML file, in the same shape as the built-in library (defaults left out); an imported
    character card is kept whole under `card_json` (see personas.mask_card).

    Raises:
        MaskError: the mask's card cannot be written as JSON (only possible for a card built in code).
    """
    import tomli_w

    data = mask.model_dump(mode="json", exclude_defaults=True, exclude_none=True, exclude={"card"})
    if mask.card is not None:
        data[CARD_KEY] = card_to_toml(mask.card, mask.name)
    return tomli_w.dumps(data, multiline_strings=True)


def save_user_mask(mask: Mask, user_dir: Path) -> Path:
    """Write a user mask to `user_dir/NAME.toml`.

    Raises:
        MaskError: the name belongs to a built-in, the file would be over 20 MB (a big card image), or it
            cannot be written.
    """
    if is_builtin(mask.name):
        raise MaskError(f"'{mask.name}' is a built-in mask; save it under another name")
    _refuse_oversize(mask.name, len(mask.card_image or ""))  # before spending seconds writing 20 MB of TOML
    text = mask_to_toml(mask).encode("utf-8")
    _refuse_oversize(mask.name, len(text))
    path = user_dir / f"{mask.name}.toml"
    try:
        user_dir.mkdir(parents=True, exist_ok=True)
        path.write_bytes(text)
    except OSError as e:
        raise MaskError(f"cannot save mask '{mask.name}' in {user_dir}: {e}") from e
    return path


def _refuse_oversize(name: str, size: int) -> None:
    """Never write a mask file the library would refuse to read back."""
    if size > MAX_FILE_BYTES:
        raise MaskError(
            f"cannot save mask '{name}': its file would be at least {size} bytes (a character card's picture and"
            " text are kept in it); the limit is 20 MB"
        )


def delete_user_mask(name: str, user_dir: Path) -> None:
    """Remove the user mask `name` (its file `user_dir/NAME.toml`).

    Raises:
        MaskError: a built-in (they are read-only), no such user mask, or the file cannot be removed.
    """
    if is_builtin(name):
        raise MaskError(f"'{name}' is a built-in mask; built-ins cannot be deleted")
    path = user_dir / f"{name}.toml"
    if not is_name(name) or not path.is_file():
        raise MaskError(f"no user mask called {name!r} in {user_dir}")
    try:
        path.unlink()
    except OSError as e:
        raise MaskError(f"cannot delete mask '{name}': {e}") from e


def free_name(wanted: str, user_dir: Path | None, also_taken: set[str] | None = None) -> str:
    """`wanted`, or `wanted-2`, `wanted-3`, ...: the first name no built-in, user mask file or `also_taken` has.

    `wanted` must already be a valid mask name.
    """
    taken = set(builtin_names()) | (also_taken or set())
    if user_dir is not None and user_dir.is_dir():
        taken |= {path.stem for path in user_dir.glob("*.toml")}
    stem = wanted[:60]
    candidate, number = wanted, 1
    while candidate in taken:
        number += 1
        candidate = f"{stem}-{number}"
    return candidate
