# Reading an export row by row. Decoding a whole file and then checking all of it held every row, and every
# problem pydantic found, at once: a 2 MB file of `{"messages": [{}, {}, ...]}` took 2.5 GB, a 20 MB one 23.6 GB.
# Here each row is decoded and checked on its own and then only its checked form is kept, the reading stops at
# the first problems, and the rows a file may hold are capped.

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from storage.errors import ImportError_
from storage.exportfile import (
    EXPORT_FORMAT,
    EXPORT_VERSION,
    AnnotationRow,
    ConversationRow,
    ExportFile,
    LaneRow,
    MessageRow,
    brief,
    check_rows,
    row_where,
)

# Module attributes, read on every call, so a test can lower them.
MAX_IMPORT_ROWS = 100_000  # lanes, messages and annotations together; a long conversation has about 5,000
MAX_PROBLEMS = 20  # the reading stops at this many; the message lists them all

ROWS: dict[str, type[BaseModel]] = {"lanes": LaneRow, "messages": MessageRow, "annotations": AnnotationRow}
HEADER = ("format", "version", "conversation")
NOT_AN_EXPORT = "expected a JSON object (a Simulacra conversation export), got a"

_SPACE = re.compile(r"[ \t\n\r]*")
# \ud800-\udfff written as an escape: half of a UTF-16 pair, which may stand alone after parsing.
SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_decoder = json.JSONDecoder()


class _Enough(Exception):
    """Stop reading: enough problems are known, or reading on would mean decoding an unchecked value whole."""


@dataclass
class _Reader:
    text: str
    pos: int = 0
    problems: list[str] = field(default_factory=list)
    rows: int = 0
    header: dict[str, Any] = field(default_factory=dict)
    sections: dict[str, list[Any]] = field(default_factory=lambda: {name: [] for name in ROWS})

    def skip(self) -> str:
        """Move past white space; the next character, or "" at the end."""
        space = _SPACE.match(self.text, self.pos)
        assert space is not None  # it matches the empty string
        self.pos = space.end()
        return self.text[self.pos : self.pos + 1]

    def expect(self, chars: str, message: str) -> str:
        """The next character, one of `chars`; else the JSON syntax error json itself would name."""
        char = self.skip()
        if not char or char not in chars:
            raise json.JSONDecodeError(message, self.text, self.pos)
        self.pos += 1
        return char

    def value(self) -> Any:
        self.skip()
        value, self.pos = _decoder.raw_decode(self.text, self.pos)
        return value

    def problem(self, text: str, *, stop: bool = False) -> None:
        self.problems.append(text)
        if stop or len(self.problems) >= MAX_PROBLEMS:
            raise _Enough


def describe(item: ErrorDetails, at: tuple[int | str, ...], row: Any) -> str:
    """One pydantic problem, naming its field in the file (`messages[3] (id 17).role: ...`)."""
    got = "" if item["type"] in ("missing", "extra_forbidden") else f", got {brief(item['input'])}"
    return f"{row_where((*at, *item['loc']), row)}: {item['msg']}{got}"


def _strings(data: Any) -> Iterator[tuple[tuple[int | str, ...], str, bool]]:
    """Every string in decoded JSON with where it is, and whether it is a key (then `where` is its object's
    place); iterative, so as deep as the value goes."""
    stack: list[tuple[tuple[int | str, ...], Any]] = [((), data)]
    while stack:
        loc, value = stack.pop()
        if isinstance(value, str):
            yield loc, value, False
        elif isinstance(value, dict):
            for key, item in value.items():
                yield loc, key, True
                stack.append(((*loc, key), item))
        elif isinstance(value, list):
            stack.extend(((*loc, i), item) for i, item in enumerate(value))


def check_text(value: Any, at: tuple[int | str, ...], row: Any) -> None:
    """Refuse a lone surrogate: it parses into a str that no database can encode, and the write would fail
    halfway with a UnicodeEncodeError. Raises ImportError_ naming where it is."""
    for loc, text, is_key in _strings(value):
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as e:
            bad = f"\\u{ord(text[e.start]):04x}"
            what = "a key" if is_key else "text"
            raise ImportError_(
                f"{row_where((*at, *loc), row)}: {what} holds {bad}, half of a UTF-16 pair, alone"
            ) from e


def _members(r: _Reader) -> Iterator[str]:
    """The keys of the object at the reader, each left for the caller to read its value; a key met twice is a
    problem that stops the reading (json would keep the last one silently)."""
    r.pos += 1  # the `{`
    if r.skip() == "}":
        r.pos += 1
        return
    seen: set[str] = set()
    while True:
        if r.skip() != '"':
            raise json.JSONDecodeError("Expecting property name enclosed in double quotes", r.text, r.pos)
        key = r.value()
        r.expect(":", "Expecting ':' delimiter")
        if key in seen:
            r.problem(f"{row_where((key,), None)}: appears twice", stop=True)
        seen.add(key)
        yield key
        if r.expect(",}", "Expecting ',' delimiter") == "}":
            return


def _fields(r: _Reader, model: type[BaseModel], at: tuple[int | str, ...]) -> Any:
    """The value at the reader, decoded a field at a time when it is an object; an unknown key, or a list where
    a row belongs, stops the reading before its value is decoded, since it may be of any size."""
    first = r.skip()
    if first == "[":
        r.problem(
            f"{row_where(at, None)}: Input should be a valid dictionary or instance of {model.__name__}", stop=True
        )
    if first != "{":
        return r.value()
    fields: dict[str, Any] = {}
    for key in _members(r):
        if key not in model.model_fields:
            row = fields if len(at) > 1 else None
            r.problem(f"{row_where((*at, key), row)}: Extra inputs are not permitted", stop=True)
        fields[key] = r.value()
    return fields


def _checked(r: _Reader, model: type[BaseModel], at: tuple[int | str, ...]) -> Any:
    """The row at the reader, checked; None after noting its problems."""
    r.skip()
    start = r.pos
    value = _fields(r, model, at)
    row = value if len(at) > 1 else None  # a row of a list is named by its id
    try:
        checked = model.model_validate(value)
    except ValidationError as e:
        for item in e.errors(include_url=False):
            r.problem(describe(item, at, row))
        return None
    if SURROGATE_ESCAPE.search(r.text, start, r.pos):  # only a row with such an escape is searched
        check_text(value, at, row)
    return checked


def _read_rows(r: _Reader, section: str) -> None:
    r.pos += 1  # the `[`
    if r.skip() == "]":
        r.pos += 1
        return
    for index in range(MAX_IMPORT_ROWS + 1):
        r.rows += 1
        if r.rows > MAX_IMPORT_ROWS:
            raise ImportError_(
                f"more than {MAX_IMPORT_ROWS:,} rows (lanes, messages and annotations together); "
                f"imports are limited to {MAX_IMPORT_ROWS:,}"
            )
        checked = _checked(r, ROWS[section], (section, index))
        if checked is not None:
            r.sections[section].append(checked)
        if r.expect(",]", "Expecting ',' delimiter") == "]":
            return


def _read_header(r: _Reader, key: str) -> None:
    if key == "conversation":
        r.header[key] = _checked(r, ConversationRow, ("conversation",))
        return
    if r.skip() in ("[", "{"):  # not decoded: it is not the word or number wanted, whatever its size
        value: Any = "[...]" if r.text[r.pos] == "[" else "{...}"
    else:
        value = r.value()
    if key == "format" and value != EXPORT_FORMAT:
        raise ImportError_(f"not a Simulacra conversation export: format is {brief(value)}, expected {EXPORT_FORMAT!r}")
    if key == "version" and value != EXPORT_VERSION:
        raise ImportError_(
            f"export version {brief(value)} is not supported; this Simulacra reads version {EXPORT_VERSION}"
        )
    r.header[key] = value


def _read_entry(r: _Reader, key: str) -> None:
    if key in ROWS and r.skip() == "[":
        _read_rows(r, key)
    elif key in HEADER:
        _read_header(r, key)
    elif key in ROWS and r.skip() == "{":
        r.problem(f"{key}: Input should be a valid list", stop=True)
    elif key in ROWS:
        r.problem(f"{key}: Input should be a valid list, got {brief(r.value())}")
    else:  # not decoded: an unknown key's value may be anything, of any size
        r.problem(f"{row_where((key,), None)}: Extra inputs are not permitted", stop=True)


def _not_an_object(r: _Reader, first: str) -> None:
    if first == "[":  # not decoded: a list may hold a million of anything
        raise ImportError_(f"{NOT_AN_EXPORT} list")
    value = r.value()
    if r.skip():
        raise json.JSONDecodeError("Extra data", r.text, r.pos)
    raise ImportError_(f"{NOT_AN_EXPORT} {type(value).__name__}")


def _read_object(r: _Reader) -> None:
    first = r.skip()
    if first != "{":
        _not_an_object(r, first)
    for key in _members(r):
        _read_entry(r, key)
    if r.skip():
        raise json.JSONDecodeError("Extra data", r.text, r.pos)


def read_export(text: str) -> ExportFile:
    """Decode and check an export's JSON text one row at a time, stopping at the first MAX_PROBLEMS problems.

    Raises ImportError_ naming the problems (the first ones, when there are more), json.JSONDecodeError for
    malformed JSON, ValueError for a number too long to read.
    """
    r = _Reader(text)
    try:
        _read_object(r)
    except _Enough:
        more = " (and maybe more: reading stopped there)" if len(r.problems) >= MAX_PROBLEMS else ""
        raise ImportError_(f"not a valid conversation export: {'; '.join(r.problems)}{more}") from None
    for key in ("format", "version"):
        if key not in r.header:
            _read_header_missing(key)
    if "conversation" not in r.header:
        r.problems.append("conversation: Field required")
    if r.problems:
        raise ImportError_(f"not a valid conversation export: {'; '.join(r.problems)}")
    export = ExportFile.model_construct(  # every part is checked already
        format="simulacra.conversation",
        version=1,
        conversation=r.header["conversation"],
        lanes=r.sections["lanes"],
        messages=r.sections["messages"],
        annotations=r.sections["annotations"],
    )
    check_rows(export)
    return export


def _read_header_missing(key: str) -> None:
    if key == "format":
        raise ImportError_(f"not a Simulacra conversation export: format is None, expected {EXPORT_FORMAT!r}")
    raise ImportError_(f"export version None is not supported; this Simulacra reads version {EXPORT_VERSION}")
