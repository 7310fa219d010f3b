# Importing an export: a new conversation with new ids that exports the same again, and every broken
# export (fields, ids, the message tree, settings, tokens) refused with one ImportError_ that names the problem,
# before anything is written; a failure while writing rolls everything back. Files that are not an export, or
# hostile ones (malformed, truncated, too big, too deep), are in test_import_files.py.

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlalchemy.exc import StatementError
from sqlmodel import Session

from storage import repo
from tests.support.imports import ROW, _broken, _counts, _set, _write


def test_round_trip_is_identical_but_for_ids(
    engine: Engine,
    session: Session,
    exported: dict[str, Any],
    tmp_path: Path,
    without_ids: Callable[[dict[str, Any]], dict[str, Any]],
) -> None:
    path = _write(tmp_path, exported)
    new_id = repo.import_conversation(session=session, data=repo.load_export_file(path))
    assert new_id != exported["conversation"]["id"]
    again = repo.export_conversation(session=session, conversation_id=new_id)
    assert without_ids(again) == without_ids(exported)
    assert again["conversation"]["created_at"] == exported["conversation"]["created_at"]  # timestamps kept
    assert [h.conversation_id for h in repo.search(session=session, query="polite good")] == []  # tags aren't text
    assert {h.conversation_id for h in repo.search(session=session, query="really")} == {
        exported["conversation"]["id"],
        new_id,
    }


def test_import_accepts_any_order_of_messages(session: Session, exported: dict[str, Any]) -> None:
    shuffled = copy.deepcopy(exported)
    shuffled["messages"].reverse()  # children before parents
    new_id = repo.import_conversation(session=session, data=shuffled)
    again = repo.export_conversation(session=session, conversation_id=new_id)

    # Same tree: each message has the same parent content and lane label as before.
    def shape(export: dict[str, Any]) -> list[tuple[Any, ...]]:
        by_id = {m["id"]: m for m in export["messages"]}
        labels = {lane["id"]: lane["label"] for lane in export["lanes"]}

        def parent(m: dict[str, Any]) -> str | None:
            return by_id[m["parent_id"]]["content"] if m["parent_id"] else None

        return sorted((m["content"], m["role"], labels.get(m["lane_id"]), parent(m)) for m in export["messages"])

    assert shape(again) == shape(exported)


def _duplicate_message(data: dict[str, Any]) -> None:
    data["messages"][2]["id"] = data["messages"][1]["id"]


def _duplicate_lane(data: dict[str, Any]) -> None:
    data["lanes"][1]["id"] = data["lanes"][0]["id"]


def _duplicate_annotation(data: dict[str, Any]) -> None:
    data["annotations"][1]["id"] = data["annotations"][0]["id"]


def _own_parent(data: dict[str, Any]) -> None:
    users = [m for m in data["messages"] if m["role"] == "user"]
    users[1]["parent_id"] = users[1]["id"]


def _diverged_from(source: int) -> Callable[[dict[str, Any]], None]:
    def change(data: dict[str, Any]) -> None:
        data["messages"][2].update(diverged_from_id=source, diverged_at=1)

    return change


def _cycle(data: dict[str, Any]) -> None:
    users = [m for m in data["messages"] if m["role"] == "user"]
    users[0]["parent_id"] = users[1]["id"]  # the first question now answers the second, its own child


BROKEN = [
    ("wrong format", _set("format", "sillytavern.chat"), "format is 'sillytavern.chat'"),
    ("wrong version", _set("version", 2), "export version 2 is not supported"),
    ("unknown role", _set("messages.0.role", "assistant"), r"messages\[0\]" + ROW + "role: .*, got 'assistant'"),
    ("unknown status", _set("messages.1.status", "done"), r"messages\[1\]" + ROW + "status: .*'error', got 'done'"),
    ("unknown lane kind", _set("lanes.0.kind", "base"), r"lanes\[0\]" + ROW + "kind"),
    ("unknown key", _set("lanes.0.colour", "red"), r"lanes\[0\]" + ROW + "colour: Extra inputs are not permitted"),
    ("missing key", lambda d: d["lanes"][0].pop("model"), r"lanes\[0\]" + ROW + "model: Field required"),
    ("naive time", _set("conversation.created_at", "2026-01-01T00:00:00"), "timezone"),
    ("duplicate id", _duplicate_message, "duplicate message id"),
    ("duplicate lane id", _duplicate_lane, "duplicate lane id"),
    ("duplicate annotation id", _duplicate_annotation, "duplicate annotation id"),
    ("own parent", _own_parent, r"messages (\d+) -> \1 form a parent_id cycle"),
    ("diverged from elsewhere", _diverged_from(555), "diverged from message 555, which is not in the file"),
    ("negative branch", _set("messages.2.diverged_at", -2), r"messages\[2\]" + ROW + "diverged_at: .*0, got -2"),
    ("metrics not an object", _set("messages.2.metrics", [0.5]), r"messages\[2\]" + ROW + "metrics: .*dictionary"),
    ("dangling parent", _set("messages.1.parent_id", 9999), "parent_id 9999, which is not a message in the file"),
    ("cycle", _cycle, "form a parent_id cycle"),
    ("missing lane", _set("messages.1.lane_id", 777), "from lane 777, which is not in the file"),
    ("reply without lane", _set("messages.1.lane_id", None), "is a reply without a lane_id"),
    ("other conversation", _set("messages.1.conversation_id", 4242), "belongs to conversation 4242"),
    ("annotation target", _set("annotations.0.message_id", 31337), "on message 31337, which is not in the file"),
    ("rating", _set("annotations.0.rating", 9), r"annotations\[0\]" + ROW + "rating: .*less than or equal to 1"),
    ("empty object", lambda d: d.clear(), "format is None"),
    # Sampling settings as a turn reads them back (SamplingSettings), and integers SQLite can hold.
    (
        "hot lane",
        _set("lanes.0.temperature", 50),
        r"lanes\[0\]" + ROW + "temperature: .*less than or equal to 2, got 50",
    ),
    ("NaN temperature", _set("lanes.0.temperature", float("nan")), r"lanes\[0\]" + ROW + "temperature: "),
    ("temperature text", _set("lanes.0.temperature", "warm"), r"temperature: Input should be a valid number"),
    ("long lane", _set("lanes.1.max_tokens", 10_000_000), r"lanes\[1\]" + ROW + "max_tokens: .*4096"),
    ("no top_p", _set("lanes.0.top_p", 0), r"top_p: Input should be greater than 0"),
    ("negative top_k", _set("lanes.0.top_k", -1), r"top_k: Input should be greater than or equal to 0"),
    ("stop not a list", _set("lanes.0.stop", "User:"), r"lanes\[0\]" + ROW + "stop: Input should be a valid list"),
    ("lane seed 2**70", _set("lanes.0.seed", 2**70), r"lanes\[0\]" + ROW + "seed: .*9223372036854775807, got 1180"),
    ("reply seed 2**70", _set("messages.1.seed", 2**70), r"messages\[1\]" + ROW + "seed: .*9223372036854775807"),
    ("position 2**63", _set("lanes.1.position", 2**63), r"lanes\[1\]" + ROW + "position: .*less than or equal"),
    ("branch at 2**64", _set("messages.2.diverged_at", 2**64), r"messages\[2\]" + ROW + "diverged_at: .*less than"),
    ("id -2**70", _set("annotations.0.id", -(2**70)), r"annotations\[0\] \(id -1180\d+\)\.id: .*greater than or equal"),
    ("hot reply", _set("messages.1.settings", {"temperature": 50}), r"messages\[1\]" + ROW + "settings.temperature"),
    ("odd setting", _set("messages.1.settings", {"foo": 1}), r"settings.foo: Extra inputs are not permitted"),
    ("settings list", _set("messages.1.settings", [0.8]), r"settings: Input should be a valid dictionary"),
    (
        "setting seed 2**70",
        _set("messages.1.settings", {"seed": 2**70}),
        r"settings\.seed: Input should be less than or equal to 4294967295",
    ),
    # Tokens as simulator.values.Token.compact writes them.
    (
        "tokens of anything",
        _set("messages.1.tokens", [5, [], "x"]),
        r"messages\[1\]" + ROW + r"tokens\[0\]: A token is",
    ),
    ("tokens not a list", _set("messages.1.tokens", "Hello"), r"tokens: Input should be a valid list"),
    ("token text a number", _set("messages.1.tokens.0", [5, 0.5, []]), r"tokens\[0\]: A token is \[text\]"),
    ("token p above 1", _set("messages.1.tokens.1", ["x", 1.5, []]), r"tokens\[1\]: .*from 0 to 1, got \['x', 1.5"),
    ("token p negative", _set("messages.1.tokens.1", ["x", -0.1, []]), r"tokens\[1\]: .*from 0 to 1"),
    ("token p null", _set("messages.1.tokens.1", ["x", None]), r"tokens\[1\]: A token is"),
    ("token p true", _set("messages.1.tokens.1", ["x", True, []]), r"tokens\[1\]: A token is"),
    ("token too long", _set("messages.1.tokens.1", ["x", 0.5, [], 1, "bound", 2]), r"tokens\[1\]: A token is"),
    ("entropy negative", _set("messages.1.tokens.1", ["x", 0.5, [], -0.1]), r"tokens\[1\]: .*entropy"),
    ("entropy text", _set("messages.1.tokens.1", ["x", 0.5, [], "1.2"]), r"tokens\[1\]: .*entropy"),
    ("entropy huge", _set("messages.1.tokens.1", ["x", 0.5, [], 1e300]), r"tokens\[1\]: .*entropy"),
    ("entropy odd mark", _set("messages.1.tokens.1", ["x", 0.5, [], 1.5, "exact"]), r"tokens\[1\]: .*bound"),
    ("empty token", _set("messages.1.tokens.1", []), r"tokens\[1\]: A token is"),
    ("alternatives text", _set("messages.1.tokens.1", ["x", 0.5, "y"]), r"tokens\[1\]: A token is"),
    ("alternative short", _set("messages.1.tokens.1", ["x", 0.5, [["y"]]]), r"tokens\[1\]: A token is"),
    ("alternative p", _set("messages.1.tokens.1", ["x", 0.5, [["y", 2]]]), r"tokens\[1\]: A token is"),
    ("year 10000 in UTC", _set("messages.1.created_at", "9999-12-31T23:00:00-05:00"), r"created_at: .*years 1 to 9999"),
    ("odd key", _set("lanes.0.a\nb", 1), r"lanes\[0\]" + ROW[:-2] + r"\['a\\nb'\]: Extra inputs are not permitted"),
]


@pytest.mark.parametrize(("change", "problem"), [case[1:] for case in BROKEN], ids=[case[0] for case in BROKEN])
def test_broken_exports_are_refused_before_writing(
    engine: Engine,
    session: Session,
    exported: dict[str, Any],
    tmp_path: Path,
    change: Callable[[dict[str, Any]], None],
    problem: str,
) -> None:
    data = _broken(exported, change)
    before = _counts(engine)
    path = _write(tmp_path, data)
    with pytest.raises(repo.ImportError_, match=problem) as raised:
        repo.load_export_file(path)
    assert str(raised.value).startswith(f"{path}: ") and "\n" not in str(raised.value)  # one line, naming the file
    with pytest.raises(repo.ImportError_, match=problem) as uploaded:  # an upload: same checks, same words
        repo.load_export_bytes(json.dumps(data).encode(), "upload.json")
    assert str(uploaded.value) == str(raised.value).replace(str(path), "upload.json", 1)
    with pytest.raises(repo.ImportError_, match=problem):
        repo.import_conversation(session=session, data=data)
    assert _counts(engine) == before


def test_parent_that_is_a_reply_is_refused(session: Session, exported: dict[str, Any]) -> None:
    reply = next(m for m in exported["messages"] if m["role"] == "model")
    data = _broken(exported, _set("messages.4.parent_id", reply["id"]))
    with pytest.raises(repo.ImportError_, match="parents are user messages"):
        repo.import_conversation(session=session, data=data)


def test_a_failure_while_writing_rolls_everything_back(
    engine: Engine, session: Session, exported: dict[str, Any]
) -> None:
    # Valid by the format (a prompt is any JSON list), but a set cannot be stored: the database refuses mid-import.
    data = _broken(exported, lambda d: d["messages"][-1].update(prompt=[{1, 2}]))
    before = _counts(engine)
    # SQLite's JSON type encodes before the driver (SQLAlchemy wraps the error); psycopg encodes in the driver.
    with pytest.raises((StatementError, TypeError)):
        repo.import_conversation(session=session, data=data)
    assert _counts(engine) == before
    assert repo.import_conversation(session=session, data=exported) > 0  # the session is usable again
