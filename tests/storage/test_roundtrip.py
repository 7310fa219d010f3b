# Property test: any conversation the app can write (lanes, branches, regenerated replies with tokens,
# seeds, metrics and token branch points, annotations, any Unicode) survives export -> import -> export,
# and every export format reads it.

import json
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine
from sqlmodel import Session

from storage import exports, repo
from storage.imports import LaneRow
from tests.support.factories import examples
from tests.support.lane_rows import with_sampling_settings

# Any character SQLite and JSON can hold (no lone surrogates), NUL and line separators included.
TEXT = st.text(st.characters(exclude_categories=["Cs"]), max_size=24)
NUMBER = st.floats(min_value=0, max_value=1e6, allow_nan=False, allow_infinity=False)
PROB = st.floats(min_value=0, max_value=1, allow_nan=False)
TOKEN = st.one_of(
    st.tuples(TEXT).map(list),
    st.tuples(TEXT, PROB, st.lists(st.tuples(TEXT, PROB).map(list), max_size=3)).map(list),
    # With its entropy (exact in-process, a lower bound from a server), as Token.compact writes it.
    st.tuples(TEXT, PROB, st.just([]), st.floats(0, 12)).map(list),
    st.tuples(TEXT, PROB, st.just([]), st.floats(0, 12), st.just("bound")).map(list),
)
CHAT_MESSAGE = st.fixed_dictionaries({"role": st.sampled_from(["system", "user"]), "content": TEXT})
PROMPT = st.one_of(TEXT, st.lists(CHAT_MESSAGE, max_size=3))
SNAPSHOT = st.none() | st.fixed_dictionaries(
    {"name": TEXT, "frame": TEXT, "system_prompt": st.none() | TEXT, "stop": st.lists(TEXT, max_size=2)}
)
LANE = st.fixed_dictionaries(
    {
        "label": TEXT,
        "kind": st.sampled_from(["simulator", "chat"]),
        "model": st.sampled_from(["gemma-3-270m", "openai/gpt-4o-mini", "ollama/llama3"]),
        "mask_name": st.none() | st.sampled_from(["assistant", "pirate"]),
        "mask_snapshot": SNAPSHOT,
        "system_prompt": st.none() | TEXT,
        "temperature": st.floats(0, 2),
        "top_p": st.floats(min_value=0, max_value=1, exclude_min=True, allow_nan=False),
        "top_k": st.integers(0, 200),
        "max_tokens": st.integers(1, 4096),
        "seed": st.none() | st.integers(0, 2**31),
        "stop": st.lists(TEXT, max_size=3),
    }
)
# What simulator/ stores as a reply's metrics: any JSON object (ints kept exact, as JSON does).
JSON_LEAF = st.none() | st.booleans() | st.integers(-(2**53), 2**53) | NUMBER | TEXT
METRICS = st.none() | st.dictionaries(
    TEXT,
    st.recursive(
        JSON_LEAF, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3), max_leaves=6
    ),
    max_size=4,
)
SHA256 = st.text("0123456789abcdef", min_size=64, max_size=64)
REPLY = st.fixed_dictionaries(
    {
        "content": TEXT,
        "tokens": st.none() | st.lists(TOKEN, max_size=4),
        "prompt": PROMPT,
        # None: still streaming (an incomplete reply saved by update_reply)
        "status": st.none() | st.sampled_from(["complete", "incomplete", "error"]),
        "finish_reason": st.none() | st.sampled_from(["stop", "length"]),
        "error": st.none() | TEXT,
        "ttft_ms": st.none() | NUMBER,
        "total_ms": st.none() | NUMBER,
        "tokens_per_s": st.none() | NUMBER,
        "seed": st.none() | st.integers(0, 2**32 - 1),
        "model_sha256": st.none() | SHA256,
        "metrics": METRICS,
    }
)
ANNOTATION = st.fixed_dictionaries(
    {"tags": st.lists(TEXT, max_size=3), "rating": st.none() | st.integers(-1, 1), "note": TEXT}
)


@st.composite
def conversations(draw: st.DrawFn) -> dict[str, Any]:
    lanes = draw(st.lists(LANE, max_size=3))
    users: list[tuple[int | None, str]] = []
    for i in range(draw(st.integers(0, 5))):
        parent = draw(st.none() | st.integers(0, i - 1)) if i else None
        users.append((parent, draw(TEXT)))
    replies: list[tuple[int, int, dict[str, Any]]] = []
    if users and lanes:
        targets = st.tuples(st.integers(0, len(users) - 1), st.integers(0, len(lanes) - 1), REPLY)
        replies = draw(st.lists(targets, max_size=8))
    # A branch from a token copies an earlier reply's first tokens: (that reply's index, how many tokens).
    branches = [
        draw(st.none() | st.tuples(st.integers(0, j - 1), st.integers(0, 64))) if j else None
        for j in range(len(replies))
    ]
    count = len(users) + len(replies)
    target = st.none() | st.integers(0, count - 1) if count else st.none()
    annotations = draw(st.lists(st.tuples(target, ANNOTATION), max_size=5))
    return {
        "title": draw(TEXT),
        "notes": draw(TEXT),
        "lanes": lanes,
        "users": users,
        "replies": replies,
        "branches": branches,
        "annotations": annotations,
    }


def no_opening(lane: LaneRow) -> list[dict[str, str]]:
    return []


def _write(session: Session, plan: dict[str, Any]) -> int:
    """Store the plan through repo, as the app would; returns the conversation id."""
    cid = repo.create_conversation(session=session, title=plan["title"]).id
    assert cid is not None
    repo.set_notes(session=session, conversation_id=cid, notes=plan["notes"])
    lanes = [
        repo.add_lane(session=session, conversation_id=cid, position=i, **with_sampling_settings(lane)).id
        for i, lane in enumerate(plan["lanes"])
    ]
    messages: list[int | None] = []
    for parent, content in plan["users"]:
        parent_id = None if parent is None else messages[parent]
        messages.append(
            repo.add_user_message(session=session, conversation_id=cid, parent_id=parent_id, content=content).id
        )
    replies: list[int] = []
    for (user, lane, reply), branch in zip(plan["replies"], plan["branches"], strict=True):
        diverged = {} if branch is None else {"diverged_from_id": replies[branch[0]], "diverged_at": branch[1]}
        started = repo.start_reply(
            session=session,
            conversation_id=cid,
            lane_id=lanes[lane],
            parent_id=messages[user],
            prompt=reply["prompt"],
            **diverged,
        )
        assert started.id is not None
        if reply["status"] is None:
            repo.update_reply(session=session, message_id=started.id, content=reply["content"], tokens=reply["tokens"])
        else:
            fields = {k: v for k, v in reply.items() if k != "prompt"}
            repo.finish_reply(session=session, message_id=started.id, **fields)
        messages.append(started.id)
        replies.append(started.id)
    for target, annotation in plan["annotations"]:
        on = {"conversation_id": cid} if target is None else {"message_id": messages[target]}
        repo.add_annotation(session=session, **on, **annotation)
    return cid


def _check_written(export: dict[str, Any], plan: dict[str, Any], *, postgresql: bool) -> None:
    """The first export holds what the plan wrote, so the round trip cannot pass by dropping a field."""
    # PostgreSQL text cannot hold NUL: storage.db saves it as U+FFFD there.
    wrote = [text.replace("\x00", "\ufffd") if postgresql else text for text in (plan["title"], plan["notes"])]
    assert [export["conversation"]["title"], export["conversation"]["notes"]] == wrote
    users, replies = export["messages"][: len(plan["users"])], export["messages"][len(plan["users"]) :]
    assert len(replies) == len(plan["replies"])
    for row, (user, _lane, reply), branch in zip(replies, plan["replies"], plan["branches"], strict=True):
        finished = reply["status"] is not None  # update_reply alone leaves the replay fields empty
        expected = {key: reply[key] if finished else None for key in ("seed", "model_sha256", "metrics")}
        assert {key: row[key] for key in expected} == expected
        assert row["parent_id"] == users[user]["id"]
        source = None if branch is None else (replies[branch[0]]["id"], branch[1])
        assert (None if row["diverged_from_id"] is None else (row["diverged_from_id"], row["diverged_at"])) == source


def _expected_pairs(export: dict[str, Any]) -> list[tuple[str, str, str]]:
    """DPO pairs worked out from the export directly: per user message, every two non-error replies whose
    latest ratings differ and whose texts differ."""
    latest: dict[int, int] = {}
    for a in sorted(export["annotations"], key=lambda a: a["id"]):
        if a["message_id"] is not None and a["rating"] is not None:
            latest[a["message_id"]] = a["rating"]
    pairs = []
    for user in (m for m in export["messages"] if m["role"] == "user"):
        replies = [r for r in export["messages"] if r["parent_id"] == user["id"] and r["role"] == "model"]
        rated = [(r["content"], latest[r["id"]]) for r in replies if r["status"] != "error" and r["id"] in latest]
        pairs += [(user["content"], hi, lo) for hi, high in rated for lo, low in rated if high > low and hi != lo]
    return sorted(pairs)


@pytest.fixture
def shared_engine(engine: Engine) -> Engine:
    # One database for every example (hypothesis runs them all in one call of the test): each example is a new
    # conversation, so examples stay independent.
    return engine


@settings(
    max_examples=examples(50),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture],
)
@given(plan=conversations())
def test_export_import_export_round_trips(
    shared_engine: Engine, without_ids: Callable[[dict[str, Any]], dict[str, Any]], plan: dict[str, Any]
) -> None:
    with Session(shared_engine) as session:
        cid = _write(session, plan)
        first = repo.export_conversation(session=session, conversation_id=cid)
        text = exports.to_json(first)  # the file `simulacra export` and the download write
        copy_id = repo.import_conversation(session=session, data=json.loads(text))
        second = repo.export_conversation(session=session, conversation_id=copy_id)
    _check_written(first, plan, postgresql=shared_engine.dialect.name == "postgresql")
    assert copy_id != cid
    assert without_ids(second) == without_ids(first)

    texts = {role: {m["content"] for m in first["messages"] if m["role"] == role} for role in ("user", "model")}
    # A chat lane's line is the message list stored with its reply, when that is one.
    sent = {m["content"] for r in first["messages"] if isinstance(r["prompt"], list) for m in r["prompt"]}
    jsonl = exports.to_jsonl(first, no_opening)
    for line in jsonl.splitlines():
        record = json.loads(line)
        assert set(record) == {"messages"}
        assert all(set(m) == {"role", "content"} for m in record["messages"])
        assert {m["role"] for m in record["messages"]} <= {"system", "user", "assistant"}
        assert record["messages"][-1]["role"] == "assistant"
        assert {m["content"] for m in record["messages"] if m["role"] == "user"} <= texts["user"] | sent
        assert {m["content"] for m in record["messages"] if m["role"] == "assistant"} <= texts["model"] | sent
    assert jsonl.count("\n") == len(jsonl.splitlines())
    assert exports.to_jsonl(second, no_opening) == jsonl  # the import changed nothing any format shows

    dpo = exports.to_dpo(first)
    pairs = [json.loads(line) for line in dpo.splitlines()]
    assert all(set(pair) == {"prompt", "chosen", "rejected"} for pair in pairs)
    assert sorted((p["prompt"], p["chosen"], p["rejected"]) for p in pairs) == _expected_pairs(first)
    assert dpo.count("\n") == len(dpo.splitlines())
    assert exports.to_dpo(second) == dpo

    markdown = exports.to_markdown(first)
    for message in first["messages"]:
        assert message["content"] in markdown
