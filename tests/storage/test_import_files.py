# Importing files that are not an export, or hostile ones: malformed or truncated JSON, binary and missing
# files, files over the size limit (refused without reading them), nesting deeper than 64 levels (refused before
# parsing), numbers too long to read and lone surrogates, each refused with one ImportError_ that names the
# problem, before anything is written.

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from storage import repo
from storage.imports import MAX_IMPORT_BYTES
from tests.support.imports import ROW, _broken, _counts, _set, _write


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ('{"format": "simulacra.conversation", "version": 1, "conv', "not valid JSON.*truncated"),
        ("{'format': 1}", "not valid JSON: Expecting property name"),
        (" \n", "is empty"),
        ("[1, 2]", "expected a JSON object .* got a list"),
        ("null", "expected a JSON object .* got a NoneType"),
    ],
)
def test_malformed_files_are_refused(engine: Engine, tmp_path: Path, content: str, problem: str) -> None:
    before = _counts(engine)
    with pytest.raises(repo.ImportError_, match=problem):
        repo.load_export_file(_write(tmp_path, content))
    with pytest.raises(repo.ImportError_, match=r"^upload\.json\b.*" + problem):
        repo.load_export_bytes(content.encode(), "upload.json")
    assert _counts(engine) == before


def test_truncated_real_export_is_refused(engine: Engine, tmp_path: Path, exported: dict[str, Any]) -> None:
    whole = json.dumps(exported, indent=2)
    before = _counts(engine)
    for cut in (len(whole) // 2, len(whole) - 1):
        with pytest.raises(repo.ImportError_, match="the file ends early: is it truncated") as raised:
            repo.load_export_file(_write(tmp_path, whole[:cut]))
        assert "\n" not in str(raised.value)
        with pytest.raises(repo.ImportError_, match="truncated"):
            repo.load_export_bytes(whole[:cut].encode(), "upload.json")
    assert _counts(engine) == before


def test_binary_and_missing_files_are_refused(tmp_path: Path) -> None:
    binary = tmp_path / "image.png"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe\x00")
    with pytest.raises(repo.ImportError_, match="image.png"):
        repo.load_export_file(binary)
    with pytest.raises(repo.ImportError_, match="cannot read .*nothing.json"):
        repo.load_export_file(tmp_path / "nothing.json")


def test_files_over_the_limit_are_refused_without_reading(engine: Engine, tmp_path: Path) -> None:
    before = _counts(engine)
    huge = tmp_path / "huge.json"
    with huge.open("wb") as f:
        f.truncate(MAX_IMPORT_BYTES + 1)  # sparse: no disk used, and reading it would take a while
    limit = MAX_IMPORT_BYTES // 1024 // 1024
    with pytest.raises(repo.ImportError_, match=f"huge.json is {limit} MB; imports are limited to {limit} MB$"):
        repo.load_export_file(huge)
    # bytes(n) is calloc'd: the pages are never touched, so this costs no real memory either.
    with pytest.raises(repo.ImportError_, match=f"^upload.json is {limit} MB; imports are limited to {limit} MB$"):
        repo.load_export_bytes(bytes(MAX_IMPORT_BYTES + 1), "upload.json")
    assert _counts(engine) == before


def test_a_file_of_exactly_the_limit_is_read(tmp_path: Path) -> None:
    # The limit is inclusive: a file of exactly MAX_IMPORT_BYTES gets as far as the JSON check.
    with pytest.raises(repo.ImportError_, match="is empty"):
        repo.load_export_bytes(b" " * 16, "small.json")
    edge = tmp_path / "edge.json"
    with edge.open("wb") as f:
        f.truncate(MAX_IMPORT_BYTES)
    with pytest.raises(repo.ImportError_, match="edge.json is not valid JSON"):
        repo.load_export_file(edge)


def _nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


def _deep_metrics(depth: int) -> Callable[[dict[str, Any]], None]:
    # The whole file's depth: the root object, messages, the message, metrics, then the lists inside.
    return _set("messages.1.metrics", {"deep": _nested(depth - 4)})


@pytest.mark.parametrize(
    "content",
    [
        "[" * 1_000_000,  # never closes: json's parser would recurse a million times
        '{"a": ' * 5000 + "1" + "}" * 5000,
        "[" * 65 + "]" * 65,
        json.dumps({"format": "simulacra.conversation", "x": _nested(200)}),
        "[" * 30 + '{"a": "' + "[" * 100 + '"}' + "]" * 30 + "[" * 65,  # unclosed, and more than 64
    ],
    ids=["a million [", "5000 deep object", "65 deep", "200 deep inside", "65 unclosed"],
)
def test_deeply_nested_files_are_refused_before_parsing(engine: Engine, tmp_path: Path, content: str) -> None:
    before = _counts(engine)
    with pytest.raises(repo.ImportError_, match=r"^upload\.json nests objects and lists more than 64 levels deep"):
        repo.load_export_bytes(content.encode(), "upload.json")
    with pytest.raises(repo.ImportError_, match=r"nests objects and lists more than 64 levels deep; imports allow 64$"):
        repo.load_export_file(_write(tmp_path, content))
    assert _counts(engine) == before


def test_nesting_is_counted_outside_strings_only(session: Session, exported: dict[str, Any]) -> None:
    # 64 levels is allowed, and brackets inside strings (quotes and backslashes escaped) are text, not nesting.
    with pytest.raises(repo.ImportError_, match="expected a JSON object"):
        repo.load_export_bytes(("[" * 64 + "]" * 64).encode(), "edge.json")
    data = _broken(exported, _deep_metrics(64))
    data["conversation"]["title"] = '[[[[\\"{{' * 100 + "\\" * 3
    data["messages"][0]["content"] = '"' + "[" * 200
    loaded = repo.load_export_bytes(json.dumps(data).encode(), "brackets.json")
    new_id = repo.import_conversation(session=session, data=loaded)
    again = repo.export_conversation(session=session, conversation_id=new_id)
    assert again["conversation"]["title"] == data["conversation"]["title"]
    with pytest.raises(repo.ImportError_, match="more than 64 levels deep"):
        repo.load_export_bytes(json.dumps(_broken(exported, _deep_metrics(65))).encode(), "deeper.json")


def test_a_number_too_long_to_read_is_refused(engine: Engine, exported: dict[str, Any]) -> None:
    text = json.dumps(exported).replace('"seed": 1,', '"seed": ' + "9" * 5000 + ",", 1)
    assert "9" * 5000 in text
    with pytest.raises(
        repo.ImportError_, match=r"^long\.json is not valid JSON here: Exceeds the limit \(4300 digits\)"
    ):
        repo.load_export_bytes(text.encode(), "long.json")


@pytest.mark.parametrize(
    ("path", "escape", "problem"),
    [
        ("messages.1.content", "\ud800", r"messages\[1\]" + ROW + r"content: text holds \\ud800"),
        ("conversation.title", "a\udfff", r"conversation.title: text holds \\udfff, half of a UTF-16 pair, alone"),
        ("messages.1.metrics", {"\udc00": 1}, r"messages\[1\]" + ROW + r"metrics: a key holds \\udc00"),
    ],
)
def test_lone_surrogates_are_refused(
    engine: Engine, exported: dict[str, Any], path: str, escape: Any, problem: str
) -> None:
    # json.dumps writes them as \uXXXX escapes, as another tool might; no database can store the result.
    data = _broken(exported, _set(path, escape))
    data["conversation"]["notes"] = "🐉"  # a pair, also escaped: fine
    before = _counts(engine)
    with pytest.raises(repo.ImportError_, match=r"^upload\.json: " + problem) as raised:
        repo.load_export_bytes(json.dumps(data).encode(), "upload.json")
    assert "\n" not in str(raised.value)
    str(raised.value).encode("utf-8")  # printable: the message itself holds no surrogate
    assert _counts(engine) == before


def test_paired_surrogate_escapes_import(session: Session, exported: dict[str, Any]) -> None:
    data = _broken(exported, _set("conversation.title", "dragon 🐉"))
    text = json.dumps(data, ensure_ascii=True)
    assert "\\ud83d\\udc09" in text
    new_id = repo.import_conversation(session=session, data=repo.load_export_bytes(text.encode(), "pairs.json"))
    assert repo.get_conversation(session=session, conversation_id=new_id).title == "dragon 🐉"


def test_the_size_limit_can_be_lowered(
    engine: Engine, exported: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    raw = json.dumps(exported).encode() + b" " * (1024 * 1024)
    monkeypatch.setattr("storage.imports.MAX_IMPORT_BYTES", 1024 * 1024)
    before = _counts(engine)
    with pytest.raises(repo.ImportError_, match=r"^big\.json is 1 MB; imports are limited to 1 MB$"):
        repo.load_export_bytes(raw, "big.json")
    path = tmp_path / "big.json"
    path.write_bytes(raw)
    with pytest.raises(repo.ImportError_, match=r"big\.json is 1 MB; imports are limited to 1 MB$"):
        repo.load_export_file(path)
    with pytest.raises(repo.ImportError_, match=r"^/dev/zero is 1 MB; imports are limited to 1 MB$"):
        repo.load_export_file("/dev/zero")  # its size says 0, and it never ends: read no further than the limit
    assert _counts(engine) == before
    assert repo.load_export_bytes(raw[: 1024 * 1024], "edge.json").format == "simulacra.conversation"


def test_escaped_quotes_keep_the_depth_check_linear() -> None:
    # Each `\"` could start a string that never ends: a check that rescanned from every one took 17 s on 40 KB.
    started = time.monotonic()
    for content in ['"' + '\\"' * 200_000, '\\"' * 200_000, '["' + "\\\\" * 200_000 + '"]']:
        with pytest.raises(repo.ImportError_, match=r"^escapes\.json is not valid JSON|expected a JSON object"):
            repo.load_export_bytes(content.encode(), "escapes.json")
    assert time.monotonic() - started < 10
