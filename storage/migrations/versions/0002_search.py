"""full-text search: FTS5 indexes over messages, annotation notes and conversation titles

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29

External-content FTS5 tables: the text stays only in message/annotation/conversation, the index is kept
in step by triggers, and the rowid is the source row's id. The update triggers fire only when an indexed
column really changes, so a streaming reply's progress write re-indexes just that reply's text, and
finish_reply or a new updated_at re-index nothing.

PostgreSQL gets the same three indexes its own way: a generated tsvector column `fts_document` on each table
(title and notes together for a conversation) with a GIN index, in a text search configuration `simulacra_search`:
PostgreSQL's `simple` (lower case, no stemming, no stop words, like FTS5's unicode61) plus `unaccent` where the
extension can be created (FTS5's remove_diacritics), so `cafe` finds `Café` on both. Generated columns keep
themselves in step, so there are no triggers there.
A SQLite built without FTS5 gets no index: storage.search.query falls back to LIKE.
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


# PostgreSQL: (table, the text its tsvector is made of)
DOCUMENTS = (
    ("message", "content"),
    ("annotation", "note"),
    ("conversation", "title || ' ' || notes"),
)
CONFIG = "simulacra_search"


def _create_config(bind: Connection) -> None:
    op.execute(f"CREATE TEXT SEARCH CONFIGURATION {CONFIG} (COPY = pg_catalog.simple)")
    available = bind.exec_driver_sql("SELECT 1 FROM pg_available_extensions WHERE name = 'unaccent'").first()
    if available is None:
        return
    try:
        # A savepoint: without the right to create it (a managed server), search just keeps the accents.
        with bind.begin_nested():
            bind.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS unaccent")
    except Exception:
        return
    schema = bind.exec_driver_sql(
        "SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace"
        " WHERE e.extname = 'unaccent'"
    ).scalar_one()
    op.execute(
        f"ALTER TEXT SEARCH CONFIGURATION {CONFIG} ALTER MAPPING FOR word, hword, hword_part"
        f' WITH "{schema}".unaccent, pg_catalog.simple'
    )


def _upgrade_postgresql(bind: Connection) -> None:
    _create_config(bind)
    for table, document in DOCUMENTS:
        op.execute(
            f"ALTER TABLE {table} ADD COLUMN fts_document tsvector"
            f" GENERATED ALWAYS AS (to_tsvector('{CONFIG}'::regconfig, {document})) STORED"
        )
        op.execute(f"CREATE INDEX fts_{table} ON {table} USING gin (fts_document)")


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        _upgrade_postgresql(bind)
        return
    if bind.dialect.name != "sqlite" or not _has_fts5(bind):
        return
    for fts, source, columns in INDEXES:
        for statement in _statements(fts, source, columns):
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table, _document in DOCUMENTS:
            op.execute(f"ALTER TABLE {table} DROP COLUMN IF EXISTS fts_document")  # and its index
        op.execute(f"DROP TEXT SEARCH CONFIGURATION IF EXISTS {CONFIG}")
        return
    if op.get_bind().dialect.name != "sqlite":
        return
    for fts, _source, _columns in INDEXES:
        for suffix in ("ai", "ad", "au"):
            op.execute(f"DROP TRIGGER IF EXISTS {fts}_{suffix}")
        op.execute(f"DROP TABLE IF EXISTS {fts}")
