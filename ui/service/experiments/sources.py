"""Suites as text, for the Experiments page's editor: the TOML file of a built-in or saved suite to start from,
and a typed or uploaded suite checked the same way as a file (unknown keys named, one message)."""

from __future__ import annotations

from personas.suites import Suite, SuiteError, builtin_dir, parse_suite_toml
from ui.service.experiments.service import Experiments

MAX_SUITE_BYTES = 1_000_000  # a suite is a page of TOML; anything this big is a mistake


def suite_text(service: Experiments, name: str) -> str:
    """The TOML file of the suite called `name` (built-in first, then yours), as written.

    Raises:
        SuiteError: there is no such suite file, or it cannot be read.
    """
    folders = [builtin_dir(), *([service.suites_dir] if service.suites_dir is not None else [])]
    for folder in folders:
        path = folder / f"{name}.toml"
        if path.is_file():
            try:
                return path.read_text(encoding="utf-8").removeprefix("\ufeff")
            except (OSError, UnicodeDecodeError) as e:
                raise SuiteError(f"cannot read suite file {path}: {e}") from e
    raise SuiteError(f"there is no suite file for {name!r}")


def decode_suite(data: bytes, name: str) -> str:
    """An uploaded suite file's text.

    Raises:
        SuiteError: too big, or not UTF-8 text.
    """
    if len(data) > MAX_SUITE_BYTES:
        raise SuiteError(f"suite file {name} is {len(data):,} bytes; a suite is at most {MAX_SUITE_BYTES:,}")
    try:
        return data.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as e:
        raise SuiteError(f"suite file {name} is not UTF-8 text: {e}") from e


def parse_suite_text(text: str, where: str = "in the editor") -> Suite:
    """The suite `text` describes.

    Raises:
        SuiteError: empty, not TOML, or not a valid suite (the field is named).
    """
    if not text.strip():
        raise SuiteError("the suite is empty: pick a suite to copy, upload a .toml file or type one")
    if len(text.encode("utf-8")) > MAX_SUITE_BYTES:
        raise SuiteError(f"the suite is over {MAX_SUITE_BYTES:,} bytes")
    return parse_suite_toml(text, where)
