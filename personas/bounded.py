# Mask files and character cards are untrusted input, and Python's TOML and JSON parsers recurse once per level
# of nesting and read whatever they are given. Every such file is read here: over 20 MB or 64 levels deep it is
# one MaskError naming it, never a RecursionError from a parser or, later, from a serialiser.

from __future__ import annotations

import json
import math
import tomllib
from pathlib import Path
from typing import Any

from personas.errors import MaskError

MAX_FILE_BYTES = 20 * 1024 * 1024
# Real cards nest a few levels (character_book entries, an app's extensions); a mask file fewer still.
MAX_DEPTH = 64


# A decoded value costs many times its text (`{}` is 2 bytes, an empty dict 64): a 20 MB card of `[{}, {}, ...]`
# would be 400 MB of objects, and more for the checks that walk them, before anything could refuse it. A card
# with a long lorebook holds some thousands.
MAX_VALUES = 500_000
# Every JSON value follows a `,` or `:` (every TOML one a `,` or `=`) but the outermost and a list's first item, of
# which each list has one: counted over the whole text, strings included, these bound the values it holds without
# decoding it. `[` is not counted: a million of them is a nesting error, found without building anything.
_BEFORE_A_VALUE = (",", ":", "=")


def check_size(size: int, where: str, what: str) -> None:
    """Raises MaskError if a file of `size` bytes is over the limit."""
    if size > MAX_FILE_BYTES:
        raise MaskError(f"{where}: {what} is {size} bytes; the limit is 20 MB")


def check_values(text: str | bytes, where: str, what: str) -> None:
    """Raises MaskError if a JSON or TOML text may hold more than MAX_VALUES values, before it is decoded."""
    if isinstance(text, bytes):
        bound = sum(text.count(mark.encode()) for mark in _BEFORE_A_VALUE)
    else:
        bound = sum(text.count(mark) for mark in _BEFORE_A_VALUE)
    if bound > MAX_VALUES:
        raise MaskError(f"{where}: {what} holds more than {MAX_VALUES:,} values; no mask or character card does")


def read_limited(path: Path, what: str, where: str | None = None) -> bytes:
    """The bytes of `path`, refused before reading when the file is over the limit; `where` (default: the
    file's name) names it in errors.

    Raises:
        MaskError: unreadable, or over 20 MB.
    """
    try:
        check_size(path.stat().st_size, where or path.name, what)
        with path.open("rb") as file:
            data = file.read(MAX_FILE_BYTES + 1)
    except OSError as e:
        raise MaskError(f"cannot read {what} {path}: {e}") from e
    check_size(len(data), where or path.name, what)  # it may have grown since `stat`
    return data


def too_deep(value: Any, limit: int = MAX_DEPTH) -> bool:
    """Whether lists and dicts in `value` nest more than `limit` levels (the value itself is level 1)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return True
        if isinstance(item, dict):
            stack.extend((child, depth + 1) for child in item.values())
        elif isinstance(item, list):
            stack.extend((child, depth + 1) for child in item)
    return False


def _deep(where: str) -> MaskError:
    return MaskError(f"{where} is nested more than {MAX_DEPTH} levels deep; no mask or character card is")


def parse_toml(text: str, where: str) -> dict[str, Any]:
    """A mask file's TOML table; `where` names the file in errors.

    Raises:
        MaskError: over 20 MB or MAX_VALUES values, not TOML, or nested too deeply.
    """
    check_size(len(text), where, "mask file")  # characters: never more than its UTF-8 bytes
    check_values(text, where, "mask file")
    try:
        data = tomllib.loads(text)
    except RecursionError as e:
        raise _deep(f"mask file {where}") from e
    except ValueError as e:
        raise MaskError(f"mask file {where} is not valid TOML: {e}") from e
    if too_deep(data):
        raise _deep(f"mask file {where}")
    return data


def parse_json_object(data: bytes, where: str) -> dict[str, Any]:
    """A card's JSON object, refused unless it could be written back exactly; `where` names it in errors.

    Raises:
        MaskError: over 20 MB or MAX_VALUES values, not UTF-8, not JSON, NaN or infinite numbers, lone
            surrogates, nested too deeply, or not an object.
    """
    check_size(len(data), where, "card file")
    check_values(data, where, "card file")
    try:
        text = data.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as e:
        raise MaskError(f"{where} is not UTF-8 text: {e}") from e
    try:
        value = json.loads(text, parse_constant=_reject_constant, parse_float=_finite_float)
    except RecursionError as e:
        raise _deep(where) from e
    except ValueError as e:
        raise MaskError(f"{where} is not valid JSON: {e}") from e
    if too_deep(value):
        raise _deep(where)
    try:  # lone surrogates (`"\ud800"`) parse but can never be written back as UTF-8
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError as e:
        raise MaskError(f"{where} holds text that is not valid Unicode: {e.reason}") from e
    if not isinstance(value, dict):
        raise MaskError(f"{where}: a character card is a JSON object, not {json_type(value)}")
    return value


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text[:20]} is too large a number")
    return value


def json_type(value: Any) -> str:
    """What a JSON value is, in words, for errors: `an object`, `null`, `a number`..."""
    names = {dict: "an object", list: "an array", str: "a string", bool: "true or false", int: "a number"}
    return "null" if value is None else names.get(type(value), "a number")
