# Importing an export: a new conversation with new ids that exports the same again, and every broken
# file refused with one ImportError_ that names the problem, before anything is written.

import copy
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import StatementError
from sqlmodel import Session
from testsupport import _id

from storage import repo
from storage.imports import MAX_IMPORT_BYTES
from storage.tables import Lane, MessageStatus

MASK = {"name": "assistant", "frame": "A helpful AI talks with a user.", "system_prompt": None}
TOKENS = [["Hello", 0.91, [["Hi", 0.05], ["Hey", 0.02]]], [" there", 0.5, [[" world", 0.3]]]]
TABLES = ("conversation", "lane", "message", "annotation")


def _counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as connection:
        counts = {t: connection.execute(text(f"SELECT count(*) FROM {t}")).scalar_one() for t in TABLES}
        # The search index too: FTS5's own table on SQLite; PostgreSQL's generated column lives in the row.
        if connection.dialect.name == "sqlite":
            index = "SELECT count(*) FROM fts_message_docsize"
        else:
            index = "SELECT count(*) FROM message WHERE fts_document IS NOT NULL"
        counts["fts_message"] = connection.execute(text(index)).scalar_one()
    return counts


@pytest.fixture
def exported(session: Session, make_lane: Callable[..., Lane]) -> dict[str, Any]:
    """A conversation with two lanes, a branch, a regenerated reply, an error and annotations, exported."""
    cid = _id(repo.create_conversation(session=session, title="Masks · ünïcode 🐉").id)
    base = _id(make_lane(cid, 0, label="Base", mask_name="assistant", mask_snapshot=MASK).id)
    chat = _id(make_lane(cid, 1, label="Chat", kind="chat", model="openai/gpt-4o-mini", system_prompt="Be brief").id)
    first = repo.add_user_message(session=session, conversation_id=cid, parent_id=None, content="Hello?")
    replies = []
    outcomes: tuple[tuple[int, MessageStatus], ...] = ((base, "complete"), (base, "complete"), (chat, "error"))
    for lane_id, status in outcomes:
        reply = repo.start_reply(
            session=session, conversation_id=cid, lane_id=lane_id, parent_id=first.id, prompt="User: Hello?\nAI:"
        )
        repo.finish_reply(
            session=session,
            message_id=_id(reply.id),
            content="Hello there" if status == "complete" else "",
            tokens=TOKENS,
            status=status,
            finish_reason="stop",
            error="timeout" if status == "error" else None,
            ttft_ms=1.5,
            total_ms=20.0,
            tokens_per_s=41.0,
        )
        replies.append(_id(reply.id))
    second = repo.add_user_message(session=session, conversation_id=cid, parent_id=first.id, content="And then?")
    repo.add_user_message(session=session, conversation_id=cid, parent_id=first.id, content="Edited: and then?")
    streaming = repo.start_reply(
        session=session,
        conversation_id=cid,
        lane_id=chat,
        parent_id=second.id,
        prompt=[{"role": "system", "content": "Be brief"}, {"role": "user", "content": "And then?"}],
    )
    repo.update_reply(session=session, message_id=_id(streaming.id), content="It was", tokens=[["It"], [" was"]])
    repo.add_annotation(session=session, message_id=replies[0], tags=["polite"], rating=1, note="good\nreally")
    repo.add_annotation(session=session, message_id=replies[1], rating=-1)
    repo.add_annotation(session=session, conversation_id=cid, tags=["demo"], note="whole conversation")
    return repo.export_conversation(session=session, conversation_id=cid)


def _write(tmp_path: Path, data: Any, name: str = "export.json") -> Path:
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")
    return path


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


def _broken(exported: dict[str, Any], change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    data = copy.deepcopy(exported)
    change(data)
    return data


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(data: dict[str, Any]) -> None:
        *keys, last = path.split(".")
        target: Any = data
        for key in keys:
            target = target[int(key)] if key.isdigit() else target[key]
        target[int(last) if last.isdigit() else last] = value

    return change


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


ROW = r" \(id \d+\)\."  # pydantic's problems name the row's id: messages[0] (id 1).role

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
    # Tokens as simulator.events.Token.compact writes them.
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
    ("token too long", _set("messages.1.tokens.1", ["x", 0.5, [], 1]), r"tokens\[1\]: A token is"),
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
    with pytest.raises(repo.ImportError_, match="huge.json is 200 MB; imports are limited to 200 MB$"):
        repo.load_export_file(huge)
    # bytes(n) is calloc'd: the pages are never touched, so this costs no real memory either.
    with pytest.raises(repo.ImportError_, match="^upload.json is 200 MB; imports are limited to 200 MB$"):
        repo.load_export_bytes(bytes(MAX_IMPORT_BYTES + 1), "upload.json")
    assert _counts(engine) == before


def test_a_file_of_exactly_the_limit_is_read(tmp_path: Path) -> None:
    # The limit is inclusive: a file of exactly 200 MB gets as far as the JSON check.
    with pytest.raises(repo.ImportError_, match="is empty"):
        repo.load_export_bytes(b" " * 16, "small.json")
    edge = tmp_path / "edge.json"
    with edge.open("wb") as f:
        f.truncate(MAX_IMPORT_BYTES)
    with pytest.raises(repo.ImportError_, match="edge.json is not valid JSON"):
        repo.load_export_file(edge)


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
    assert repo.load_export_bytes(raw[: 1024 * 1024], "edge.json")["format"] == "simulacra.conversation"


def test_escaped_quotes_keep_the_depth_check_linear() -> None:
    # Each `\"` could start a string that never ends: a check that rescanned from every one took 17 s on 40 KB.
    started = time.monotonic()
    for content in ['"' + '\\"' * 200_000, '\\"' * 200_000, '["' + "\\\\" * 200_000 + '"]']:
        with pytest.raises(repo.ImportError_, match=r"^escapes\.json is not valid JSON|expected a JSON object"):
            repo.load_export_bytes(content.encode(), "escapes.json")
    assert time.monotonic() - started < 10
