"""What the import tests share: a conversation exported with every kind of row (the `exported` fixture, registered
for tests/storage by its conftest), row counts to show nothing was written, and ways to write and break a file."""

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text
from sqlmodel import Session

from storage import repo
from storage.tables import Lane, MessageStatus
from tests.support.factories import id_of

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
    cid = id_of(repo.create_conversation(session=session, title="Masks · ünïcode 🐉").id)
    base = id_of(make_lane(cid, 0, label="Base", mask_name="assistant", mask_snapshot=MASK).id)
    chat = id_of(make_lane(cid, 1, label="Chat", kind="chat", model="openai/gpt-4o-mini", system_prompt="Be brief").id)
    first = repo.add_user_message(session=session, conversation_id=cid, parent_id=None, content="Hello?")
    replies = []
    outcomes: tuple[tuple[int, MessageStatus], ...] = ((base, "complete"), (base, "complete"), (chat, "error"))
    for lane_id, status in outcomes:
        reply = repo.start_reply(
            session=session, conversation_id=cid, lane_id=lane_id, parent_id=first.id, prompt="User: Hello?\nAI:"
        )
        repo.finish_reply(
            session=session,
            message_id=id_of(reply.id),
            content="Hello there" if status == "complete" else "",
            tokens=TOKENS,
            status=status,
            finish_reason="stop",
            error="timeout" if status == "error" else None,
            ttft_ms=1.5,
            total_ms=20.0,
            tokens_per_s=41.0,
        )
        replies.append(id_of(reply.id))
    second = repo.add_user_message(session=session, conversation_id=cid, parent_id=first.id, content="And then?")
    repo.add_user_message(session=session, conversation_id=cid, parent_id=first.id, content="Edited: and then?")
    streaming = repo.start_reply(
        session=session,
        conversation_id=cid,
        lane_id=chat,
        parent_id=second.id,
        prompt=[{"role": "system", "content": "Be brief"}, {"role": "user", "content": "And then?"}],
    )
    repo.update_reply(session=session, message_id=id_of(streaming.id), content="It was", tokens=[["It"], [" was"]])
    repo.add_annotation(session=session, message_id=replies[0], tags=["polite"], rating=1, note="good\nreally")
    repo.add_annotation(session=session, message_id=replies[1], rating=-1)
    repo.add_annotation(session=session, conversation_id=cid, tags=["demo"], note="whole conversation")
    return repo.export_conversation(session=session, conversation_id=cid)


def _write(tmp_path: Path, data: Any, name: str = "export.json") -> Path:
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")
    return path


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


ROW = r" \(id \d+\)\."  # pydantic's problems name the row's id: messages[0] (id 1).role
