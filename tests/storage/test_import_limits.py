# An export is read and checked a row at a time (issue 18): the reading stops at the first 20 problems and names
# them, a file holds at most MAX_IMPORT_ROWS rows, and a list of a million wrong items, or a key no export has, is
# refused without holding them all. Nothing is written when anything is refused.

import json
import re
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from storage import repo
from storage.importscan import MAX_PROBLEMS
from tests.support.imports import ROW, _broken, _counts, _set, _write


def _refused(engine: Engine, tmp_path: Path, data: Any) -> str:
    """The one error both ways in give (a file, an upload), having written nothing."""
    before = _counts(engine)
    raw = data if isinstance(data, str) else json.dumps(data)
    with pytest.raises(repo.ImportError_) as from_file:
        repo.load_export_file(_write(tmp_path, raw))
    with pytest.raises(repo.ImportError_) as from_upload:
        repo.load_export_bytes(raw.encode(), "upload.json")
    assert str(from_upload.value) == str(from_file.value).replace(str(tmp_path / "export.json"), "upload.json")
    assert _counts(engine) == before
    return str(from_upload.value)


def test_the_reading_stops_at_the_first_problems_and_names_them(
    engine: Engine, tmp_path: Path, exported: dict[str, Any]
) -> None:
    data = _broken(exported, lambda d: d["messages"].extend({"id": 1000 + i, "role": "x"} for i in range(500)))
    message = _refused(engine, tmp_path, data)
    problems = message.removeprefix("upload.json: not a valid conversation export: ").split("; ")
    assert len(problems) == MAX_PROBLEMS
    first = len(exported["messages"])
    assert problems[0] == f"messages[{first}] (id 1000).conversation_id: Field required"
    assert problems[1] == f"messages[{first}] (id 1000).role: Input should be 'user' or 'model', got 'x'"
    assert problems[-1].endswith("(and maybe more: reading stopped there)")


def test_fewer_problems_are_all_named(engine: Engine, tmp_path: Path, exported: dict[str, Any]) -> None:
    data = _broken(exported, _set("messages.0.role", "x"))
    data["lanes"][1]["temperature"] = 9
    message = _refused(engine, tmp_path, data)
    assert message.count("; ") == 1 and "reading stopped" not in message
    assert "lanes[1]" in message and "messages[0]" in message


def test_a_file_holds_at_most_the_row_limit(
    engine: Engine, session: Session, tmp_path: Path, exported: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = sum(len(exported[section]) for section in ("lanes", "messages", "annotations"))
    monkeypatch.setattr("storage.importscan.MAX_IMPORT_ROWS", rows - 1)
    message = _refused(engine, tmp_path, exported)
    limit = f"{rows - 1:,}"
    assert message == (
        f"upload.json: more than {limit} rows (lanes, messages and annotations together); "
        f"imports are limited to {limit}"
    )
    monkeypatch.setattr("storage.importscan.MAX_IMPORT_ROWS", rows)
    new_id = repo.import_conversation(session=session, data=repo.load_export_bytes(json.dumps(exported).encode(), "a"))
    assert len(repo.export_conversation(session=session, conversation_id=new_id)["messages"]) == len(
        exported["messages"]
    )


@pytest.mark.parametrize(
    ("path", "value", "problem"),
    [
        ("messages.1.tokens", [5] * 1_000_000, r"messages\[1\]" + ROW + r"tokens\[0\]: A token is"),
        ("messages.1.settings", {"stop": [0] * 1_000_000}, r"settings\.stop\[0\]: Input should be a valid string"),
        ("lanes.0.stop", [0] * 1_000_000, r"lanes\[0\]" + ROW + r"stop\[0\]: Input should be a valid string"),
        ("annotations.0.tags", [0] * 1_000_000, r"annotations\[0\]" + ROW + r"tags\[0\]: Input should be"),
    ],
    ids=["tokens", "settings stop", "lane stop", "tags"],
)
def test_a_list_of_a_million_wrong_items_is_one_problem(
    engine: Engine, tmp_path: Path, exported: dict[str, Any], path: str, value: Any, problem: str
) -> None:
    message = _refused(engine, tmp_path, _broken(exported, _set(path, value)))
    assert re.search(problem, message), message
    assert "; " not in message  # the first wrong item only


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ('{"format": "simulacra.conversation", "junk": [' + "{}, " * 100_000 + "{}]}", "junk: Extra inputs"),
        ('{"messages": [[' + "{}, " * 100_000 + "{}]]}", "messages[0]: Input should be a valid dictionary"),
        ('{"format": [' + "{}, " * 100_000 + "{}]}", "format is '[...]', expected 'simulacra.conversation'"),
        ('{"messages": [{"id": 1, "x": [' + "{}, " * 100_000 + "{}]}]}", "messages[0] (id 1).x: Extra inputs"),
    ],
    ids=["unknown key", "a list for a row", "a list for the format", "unknown row key"],
)
def test_a_value_no_export_holds_stops_the_reading_unread(
    engine: Engine, tmp_path: Path, content: str, problem: str
) -> None:
    assert problem in _refused(engine, tmp_path, content)
