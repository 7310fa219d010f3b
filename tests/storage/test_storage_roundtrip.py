# Property test: any conversation the app can write (lanes, branches, regenerated replies with tokens,
# annotations, any Unicode) survives export -> import -> export, and every export format reads it.

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine
from sqlmodel import Session

from storage import exports, repo
from storage.db import make_engine

# Any character SQLite and JSON can hold (no lone surrogates), NUL and line separators included.
TEXT = st.text(st.characters(exclude_categories=["Cs"]), max_size=24)
NUMBER = st.floats(min_value=0, max_value=1e6, allow_nan=False, allow_infinity=False)
PROB = st.floats(min_value=0, max_value=1, allow_nan=False)
TOKEN = st.one_of(
    st.tuples(TEXT).map(list),
    st.tuples(TEXT, PROB, st.lists(st.tuples(TEXT, PROB).map(list), max_size=3)).map(list),
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
        "top_p": PROB,
        "top_k": st.integers(0, 200),
        "max_tokens": st.integers(1, 4096),
        "seed": st.none() | st.integers(0, 2**31),
        "stop": st.lists(TEXT, max_size=3),
    }
)
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
    }
)
ANNOTATION = st.fixed_dictionaries(
    {"tags": st.lists(TEXT, max_size=3), "rating": st.none() | st.integers(-1, 5), "note": TEXT}
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
    count = len(users) + len(replies)
    target = st.none() | st.integers(0, count - 1) if count else st.none()
    annotations = draw(st.lists(st.tuples(target, ANNOTATION), max_size=5))
    return {"title": draw(TEXT), "lanes": lanes, "users": users, "replies": replies, "annotations": annotations}


def _write(session: Session, plan: dict[str, Any]) -> int:
    """Store the plan through repo, as the app would; returns the conversation id."""
    cid = repo.create_conversation(session=session, title=plan["title"]).id
    assert cid is not None
    lanes = [
        repo.add_lane(session=session, conversation_id=cid, position=i, **lane).id
        for i, lane in enumerate(plan["lanes"])
    ]
    messages: list[int | None] = []
    for parent, content in plan["users"]:
        parent_id = None if parent is None else messages[parent]
        messages.append(
            repo.add_user_message(session=session, conversation_id=cid, parent_id=parent_id, content=content).id
        )
    for user, lane, reply in plan["replies"]:
        started = repo.start_reply(
            session=session, conversation_id=cid, lane_id=lanes[lane], parent_id=messages[user], prompt=reply["prompt"]
        )
        assert started.id is not None
        if reply["status"] is None:
            repo.update_reply(session=session, message_id=started.id, content=reply["content"], tokens=reply["tokens"])
        else:
            fields = {k: v for k, v in reply.items() if k != "prompt"}
            repo.finish_reply(session=session, message_id=started.id, **fields)
        messages.append(started.id)
    for target, annotation in plan["annotations"]:
        on = {"conversation_id": cid} if target is None else {"message_id": messages[target]}
        repo.add_annotation(session=session, **on, **annotation)
    return cid


@pytest.fixture(scope="module")
def shared_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    # One database for every example: each example is a new conversation, so examples stay independent.
    path: Path = tmp_path_factory.mktemp("roundtrip") / "simulacra.db"
    engine = make_engine(f"sqlite:///{path}")
    yield engine
    engine.dispose()


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(plan=conversations())
def test_export_import_export_round_trips(
    shared_engine: Engine, without_ids: Callable[[dict[str, Any]], dict[str, Any]], plan: dict[str, Any]
) -> None:
    with Session(shared_engine) as session:
        cid = _write(session, plan)
        first = repo.export_conversation(session=session, conversation_id=cid)
        text = json.dumps(first, ensure_ascii=False)
        copy_id = repo.import_conversation(session=session, data=json.loads(text))
        second = repo.export_conversation(session=session, conversation_id=copy_id)
    assert copy_id != cid
    assert without_ids(second) == without_ids(first)

    jsonl = exports.to_jsonl(first)
    for line in jsonl.splitlines():
        record = json.loads(line)
        assert set(record) == {"messages"}
        assert all(set(m) == {"role", "content"} for m in record["messages"])
        assert {m["role"] for m in record["messages"]} <= {"system", "user", "assistant"}
        assert record["messages"][-1]["role"] == "assistant"
    assert jsonl.count("\n") == len(jsonl.splitlines())

    dpo = exports.to_dpo(first)
    for line in dpo.splitlines():
        pair = json.loads(line)
        assert set(pair) == {"prompt", "chosen", "rejected"} and pair["chosen"] != pair["rejected"]
    assert dpo.count("\n") == len(dpo.splitlines())

    markdown = exports.to_markdown(first)
    for message in first["messages"]:
        assert message["content"] in markdown
