"""full-text search: FTS5 indexes over messages, annotation notes and conversation titles

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29

External-content FTS5 tables: the text stays only in message/annotation/conversation, the index is kept
in step by triggers, and the rowid is the source row's id. The update triggers fire only when an indexed
column really changes, so a streaming reply's progress write re-indexes just that reply's text, and
finish_reply or a new updated_at re-index nothing.

PostgreSQL (or a SQLite built without FTS5) gets no index: storage.search falls back to ILIKE.
A later batch migration that recreates message, annotation or conversation drops their triggers here:
it must create them again.
"""
from collections.abc import Sequence

from alembic import op
from sqlalchemy.engine import Connection

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TOKENIZE = "unicode61 remove_diacritics 2"

# (fts table, source table, indexed columns)
INDEXES = (
    ("fts_message", "message", ("content",)),
    ("fts_annotation", "annotation", ("note",)),
    ("fts_conversation", "conversation", ("title", "notes")),
)


def _statements(fts: str, source: str, columns: tuple[str, ...]) -> list[str]:
    names = ", ".join(columns)
    new = ", ".join(f"new.{c}" for c in columns)
    old = ", ".join(f"old.{c}" for c in columns)
    changed = " OR ".join(f"old.{c} IS NOT new.{c}" for c in ("id", *columns))
    # An external-content 'delete' must be given exactly the values that were indexed: the old row.
    delete = f"INSERT INTO {fts}({fts}, rowid, {names}) VALUES ('delete', old.id, {old});"
    insert = f"INSERT INTO {fts}(rowid, {names}) VALUES (new.id, {new});"
    return [
        f"CREATE VIRTUAL TABLE {fts} USING fts5({names}, content='{source}', content_rowid='id',"
        f" tokenize='{TOKENIZE}')",
        f"CREATE TRIGGER {fts}_ai AFTER INSERT ON {source} BEGIN {insert} END",
        f"CREATE TRIGGER {fts}_ad AFTER DELETE ON {source} BEGIN {delete} END",
        f"CREATE TRIGGER {fts}_au AFTER UPDATE OF id, {names} ON {source} WHEN {changed}"
        f" BEGIN {delete} {insert} END",
        # Index the rows already there.
        f"INSERT INTO {fts}({fts}) VALUES ('rebuild')",
    ]


def _has_fts5(bind: Connection) -> bool:
    options = {row[0] for row in bind.exec_driver_sql("PRAGMA compile_options")}
    return "ENABLE_FTS5" in options


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "sqlite" or not _has_fts5(bind):
        return
    for fts, source, columns in INDEXES:
        for statement in _statements(fts, source, columns):
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for fts, _source, _columns in INDEXES:
        for suffix in ("ai", "ad", "au"):
            op.execute(f"DROP TRIGGER IF EXISTS {fts}_{suffix}")
        op.execute(f"DROP TABLE IF EXISTS {fts}")
