"""The database itself: for `simulacra db`, bring it to the current schema or copy every transcript into another
(SQLite to a team's PostgreSQL, say); for the app, whether the database it opened is still there to use."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from pydantic import BaseModel
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError
from sqlmodel import Session

from storage.copy import CopyCounts, copy_conversations
from storage.db import current_revision, same_database
from ui.service.errors import DATABASE_ERRORS, ServiceError, database_problem
from ui.service.workspace import database_name, open_database

__all__ = ["CopyCounts", "Copied", "Upgraded", "check_database", "copy_database", "upgrade_database"]


class Upgraded(BaseModel):
    database: str  # without its password
    revision: str


class Copied(BaseModel):
    source: str
    target: str
    counts: CopyCounts


def upgrade_database(url: str) -> Upgraded:
    """Migrate the database at `url` to the current schema (creating it, for a new SQLite file).

    Raises ServiceError when it cannot be opened.
    """
    engine = open_database(url)
    try:
        revision = current_revision(engine)
    finally:
        engine.dispose()
    return Upgraded(database=database_name(url), revision=revision or "none")


def check_database(engine: Engine) -> None:
    """Raises ServiceError, one line for the whole page, when the database the app opened has gone (a SQLite
    file deleted or moved under it), cannot be read, or holds no Simulacra schema: otherwise each query on the
    page would fail on its own, with SQL in its message."""
    url = engine.url.render_as_string(hide_password=True)
    where = database_name(url)
    try:
        revision = current_revision(engine)
    except DATABASE_ERRORS as e:
        if _sqlite_file_gone(engine):
            raise ServiceError(
                f"the database {where} is gone: it was deleted or moved while the app ran. Put it back, or"
                " restart the app to start a new, empty one"
            ) from e
        raise ServiceError(database_problem(e, where)) from e
    if revision is None:
        raise ServiceError(f"the database {where} holds no Simulacra tables: restart the app to set it up")


def _sqlite_file_gone(engine: Engine) -> bool:
    database = engine.url.database if engine.url.get_backend_name() == "sqlite" else None
    if not database or database == ":memory:" or database.startswith("file:"):
        return False  # not a plain file this app could tell is missing
    return not Path(database).exists()


def _check_target(source: str, target: str) -> None:
    try:
        parsed = make_url(target)
    except ArgumentError as e:
        raise ServiceError(f"{target!r} is not a database URL: expected postgresql+psycopg://... or sqlite:///") from e
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise ServiceError(f"cannot copy into {database_name(target)}: Simulacra stores in SQLite or PostgreSQL")
    if parsed.get_backend_name() == "sqlite" and parsed.database in (None, "", ":memory:"):
        raise ServiceError("cannot copy into an in-memory SQLite database: it would be gone when the copy ends")
    if same_database(source, target):
        raise ServiceError(f"{database_name(target)} is the database in use: copy into another one")


def copy_database(source: str, target: str, progress: Callable[[CopyCounts], None] | None = None) -> Copied:
    """Copy every conversation from the database at `source` into the one at `target` (migrated first), with new
    ids; their json exports are identical apart from ids.

    Raises:
        ServiceError: `target` is not a usable URL, is the source itself, or either database cannot be opened
            (nothing is written then).
        StorageError: a conversation the export format cannot hold; those before it are copied.
    """
    _check_target(source, target)
    source_engine = open_database(source)
    try:
        target_engine = open_database(target)
        try:
            with Session(source_engine) as reading, Session(target_engine) as writing:
                counts = copy_conversations(source=reading, target=writing, progress=progress)
        finally:
            target_engine.dispose()
    finally:
        source_engine.dispose()
    return Copied(source=database_name(source), target=database_name(target), counts=counts)
