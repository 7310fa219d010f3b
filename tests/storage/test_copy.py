# `simulacra db copy` under the hood: a SQLite file of transcripts copied into a new database (SQLite or
# PostgreSQL, through db_url) gives, conversation by conversation, the same json export apart from ids.

from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlmodel import Session, col, select

from storage import repo
from storage.copy import copy_conversations
from storage.db import make_engine
from storage.tables import Conversation
from tests.support.factories import seed_transcripts


def _exports(url: str) -> list[dict[str, Any]]:
    engine = make_engine(url)
    try:
        with Session(engine) as session:
            ids = session.execute(select(col(Conversation.id)).order_by(col(Conversation.id))).scalars().all()
            return [repo.export_conversation(session=session, conversation_id=cid) for cid in ids]
    finally:
        engine.dispose()


def test_fifty_conversations_copy_with_identical_exports(
    tmp_path: Path, db_url: str, without_ids: Callable[[dict[str, Any]], dict[str, Any]]
) -> None:
    source_url = f"sqlite:///{tmp_path / 'laptop.db'}"
    seed_transcripts(source_url, 50)
    source, target = make_engine(source_url), make_engine(db_url)
    seen = []
    try:
        with Session(source) as reading, Session(target) as writing:
            counts = copy_conversations(source=reading, target=writing, progress=lambda c: seen.append(c.conversations))
    finally:
        source.dispose()
        target.dispose()

    before, after = _exports(source_url), _exports(db_url)
    assert (counts.conversations, len(after), seen) == (50, 50, list(range(1, 51)))
    assert counts.messages == sum(len(e["messages"]) for e in before) == 50 * 17
    assert counts.annotations == sum(len(e["annotations"]) for e in before) == 50 * 7
    assert counts.lanes == 100
    assert [without_ids(e) for e in after] == [without_ids(e) for e in before]
    # What the comparison must not pass by losing: tokens, metrics, snapshots, branches, settings, errors.
    messages = [m for e in after for m in e["messages"]]
    assert all(
        m["tokens"] and m["metrics"] and m["settings"] for m in messages if m["status"] == "complete" and m["lane_id"]
    )
    assert sum(m["diverged_from_id"] is not None for m in messages) == 150
    assert {m["status"] for m in messages} == {"complete", "incomplete", "error"}
    assert all(e["lanes"][0]["mask_snapshot"]["name"] == "assistant" for e in after)


def test_an_empty_database_copies_nothing(tmp_path: Path, db_url: str) -> None:
    source, target = make_engine(f"sqlite:///{tmp_path / 'empty.db'}"), make_engine(db_url)
    try:
        with Session(source) as reading, Session(target) as writing:
            assert copy_conversations(source=reading, target=writing).conversations == 0
    finally:
        source.dispose()
        target.dispose()
