"""Persona directions on SQLite and PostgreSQL: a name's newest row wins while older rows stay findable by their
vector's sha256, and migration 0010 upgrades a database that already holds conversations without losing a row."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from sqlalchemy import create_engine, inspect, text
from sqlmodel import Session

from storage import directions as store
from storage import repo
from storage.db import alembic_config, make_engine


def _add(session: Session, name: str, sha: str) -> store.Direction:
    return store.add_direction(
        session=session,
        name=name,
        model_name="base",
        model_sha256="m" * 64,
        vector_sha256=sha,
        n_layer=2,
        n_embd=3,
        vectors=bytes(range(24)),
        best_layer=1,
        provenance={"toward": "assistant", "away": "rogue-ai", "layers": [{"layer": 1, "auc": 0.9}]},
    )


def test_the_newest_of_a_name_wins_and_old_ones_stay(session: Session) -> None:
    first = _add(session, "assistant-axis", "a" * 64)
    _add(session, "other", "b" * 64)
    newer = _add(session, "assistant-axis", "c" * 64)
    newest = store.newest_direction(session=session, name="assistant-axis")
    assert newest is not None and newest.id == newer.id
    assert newest.vectors == bytes(range(24)) and newest.provenance["layers"][0]["auc"] == 0.9
    old = store.direction_by_vector(session=session, vector_sha256="a" * 64)
    assert old is not None and old.id == first.id
    assert [row.vector_sha256 for row in store.list_directions(session=session)] == ["c" * 64, "b" * 64]
    assert store.direction_names(session=session) == ["assistant-axis", "other"]
    assert store.newest_direction(session=session, name="nothing") is None
    assert store.direction_by_vector(session=session, vector_sha256="d" * 64) is None
    same = _add(session, "same-numbers", "a" * 64)
    assert store.direction_by_vector(session=session, vector_sha256="a" * 64).id == same.id  # type: ignore[union-attr]
    named = store.direction_by_vector(session=session, vector_sha256="a" * 64, name="assistant-axis")
    assert named is not None and named.id == first.id


def test_0010_upgrades_a_database_with_conversations(db_url: str) -> None:
    if db_url.startswith("sqlite:///"):
        Path(db_url.removeprefix("sqlite:///")).parent.mkdir(parents=True)
    before = create_engine(db_url)
    try:
        with before.begin() as connection:
            config = alembic_config()
            config.attributes["connection"] = connection
            command.upgrade(config, "0009")
            assert "direction" not in inspect(connection).get_table_names()
            connection.execute(
                text(
                    "INSERT INTO conversation (title, notes, created_at, updated_at)"
                    " VALUES ('kept', '', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
                )
            )
    finally:
        before.dispose()
    engine = make_engine(db_url)
    try:
        with Session(engine) as session:
            (conversation,) = repo.list_conversations(session=session)
            assert conversation.title == "kept"
            _add(session, "assistant-axis", "a" * 64)
        columns = {table: {c["name"] for c in inspect(engine).get_columns(table)} for table in ("lane", "message")}
        assert "steering" in columns["lane"] and "steering" in columns["message"]
    finally:
        engine.dispose()
