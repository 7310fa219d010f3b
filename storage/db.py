# Builds the engine on demand (never at import) and brings the schema to the latest Alembic revision,
# so every entry point (CLI, Streamlit, tests) gets a ready database from one call: a SQLite file, or PostgreSQL.

import json
import sqlite3
import threading
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.pool import StaticPool

MIGRATIONS = Path(__file__).resolve().parent / "migrations"

# Serialises migrations inside one process; BEGIN IMMEDIATE (SQLite) or an advisory lock (PostgreSQL) below
# does it across processes.
_migrate_lock = threading.Lock()
BUSY_TIMEOUT_MS = 5000  # how long a SQLite write waits for another writer before "database is locked"
MIGRATION_WAIT_MS = 120_000  # how long a starting process waits for another one's migrations
# Any fixed number, the same in every Simulacra process: the PostgreSQL advisory lock that migrations hold.
_MIGRATION_LOCK_KEY = 0x51_4D_55_4C  # "SMUL"
# An unreachable PostgreSQL host would otherwise keep a command waiting for the operating system's TCP timeout.
CONNECT_TIMEOUT_S = 10
# PostgreSQL text cannot hold NUL; SQLite can. Stored as U+FFFD instead, so any message text can be saved.
_NUL, _NUL_STAND_IN = "\x00", "\ufffd"


def default_database_url() -> str:
    """The SQLite file used when no URL is configured."""
    path = Path.home() / ".local" / "share" / "simulacra" / "simulacra.db"
    return f"sqlite:///{path}"


def _compact_json(value: Any) -> str:
    # Token lists dominate the database; compact separators keep them about a fifth smaller.
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _sqlite_pragmas(dbapi_connection: sqlite3.Connection, _record: object) -> None:
    cursor = dbapi_connection.cursor()
    try:
        # busy_timeout first, so the switch to WAL waits for other connections instead of failing.
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        # WAL: lanes stream replies from worker threads while the UI reads.
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        # 8 MB of page cache instead of 2: a search looks up each matching message's conversation, and with the
        # default those lookups kept rereading pages (1.2 ms instead of 0.5 ms for 1,000 matches in 100,000).
        cursor.execute("PRAGMA cache_size=-8192")
    finally:
        cursor.close()


class SQLiteFile:
    """Connections to one SQLite file that only the engine's first connection may create. A file deleted under a
    running app would otherwise come back empty on the next connection (sqlite3 creates what it cannot find), and
    every page would fail on its missing tables; a pooled connection would go on writing to the deleted file."""

    def __init__(self, path: Path) -> None:
        self.path = path.absolute()  # fixed now: a relative path would follow the working directory
        self.uri = self.path.as_uri()  # percent-encoded, so '?', '#' and '%' in a path stay in the path
        self.may_create = True

    def connect(self) -> sqlite3.Connection:
        """Raises sqlite3.OperationalError (SQLITE_CANTOPEN) when the file is gone, once the engine is ready."""
        mode = "rwc" if self.may_create else "rw"
        return sqlite3.connect(f"{self.uri}?mode={mode}", uri=True, check_same_thread=False)

    def watch(self, engine: Engine) -> None:
        """Make `engine`'s pool drop a connection whose file was deleted or replaced since it was opened."""
        event.listen(engine, "connect", self._remember)
        event.listen(engine, "checkout", self._check)

    def _identity(self) -> tuple[int, int] | None:
        try:
            found = self.path.stat()
        except FileNotFoundError:
            return None
        return found.st_dev, found.st_ino

    def _remember(self, _dbapi_connection: sqlite3.Connection, record: Any) -> None:
        record.info["sqlite_file"] = self._identity()

    def _check(self, _dbapi_connection: sqlite3.Connection, record: Any, _proxy: Any) -> None:
        # A stat per checkout, microseconds. The pool then reconnects once: to the file put back in its place,
        # or failing with "unable to open database file" when there is none.
        if record.info.get("sqlite_file") != self._identity():
            raise DisconnectionError(f"{self.path} was deleted or replaced")


def _postgresql_session(dbapi_connection: Any, _record: object) -> None:
    # The durability SQLite has here (WAL, synchronous=NORMAL): a commit is not flushed to disk before it returns,
    # so a streaming reply's progress write costs no fsync. A crash of the app loses nothing; only a crash of the
    # database server's machine can lose its last fraction of a second of commits (never corrupting anything).
    with dbapi_connection.cursor() as cursor:
        cursor.execute("SET synchronous_commit TO off")
    dbapi_connection.commit()


def _without_nul(value: Any) -> Any:
    if isinstance(value, str):
        return value.replace(_NUL, _NUL_STAND_IN) if _NUL in value else value
    if isinstance(value, dict):
        return {key: _without_nul(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_without_nul(item) for item in value)
    return value


def _postgresql_parameters(
    _connection: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, _executemany: bool
) -> tuple[str, Any]:
    return statement, _without_nul(parameters)


def alembic_config() -> Config:
    """An Alembic config pointing at the packaged migrations; no alembic.ini needed."""
    config = Config()
    # ConfigParser interpolates '%', which a home directory may contain.
    config.set_main_option("script_location", str(MIGRATIONS).replace("%", "%%"))
    return config


def current_revision(engine: Engine) -> str | None:
    """The Alembic revision the database is at (None before the first migration)."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def same_database(first: str, second: str) -> bool:
    """Whether two URLs name one database: the same SQLite file, or the same server, port and database name
    (whatever the driver, user or password)."""
    a, b = make_url(first), make_url(second)
    if a.get_backend_name() != b.get_backend_name():
        return False
    if a.get_backend_name() == "sqlite":
        memory = ("", ":memory:", None)
        if a.database in memory or b.database in memory:
            return False
        return Path(a.database or "").resolve() == Path(b.database or "").resolve()
    return (a.host or "localhost", a.port, a.database) == (b.host or "localhost", b.port, b.database)


def make_engine(url: str) -> Engine:
    """Create an engine for `url` and upgrade its schema to the latest revision.

    Safe to call many times for the same URL, from several threads or processes.
    Raises sqlalchemy.exc.OperationalError when the database cannot be opened or stays locked.
    """
    parsed = make_url(url)
    is_sqlite = parsed.get_backend_name() == "sqlite"
    kwargs: dict[str, Any] = {"json_serializer": _compact_json}
    sqlite_file: SQLiteFile | None = None
    if is_sqlite:
        database = parsed.database
        if not database or database == ":memory:":
            # Each pooled connection would otherwise get its own empty, unmigrated in-memory database.
            kwargs["poolclass"] = StaticPool
        elif not database.startswith("file:"):
            Path(database).parent.mkdir(parents=True, exist_ok=True)
            if not parsed.query:  # options in the URL are the driver's to read: left to it
                sqlite_file = SQLiteFile(Path(database))
                kwargs["creator"] = sqlite_file.connect
        # Replies are written from lane worker threads; the pool hands out one connection at a time.
        kwargs["connect_args"] = {"check_same_thread": False}
    elif parsed.get_backend_name() == "postgresql" and "connect_timeout" not in parsed.query:
        kwargs["connect_args"] = {"connect_timeout": CONNECT_TIMEOUT_S}
    engine = create_engine(url, **kwargs)
    if is_sqlite:
        event.listen(engine, "connect", _sqlite_pragmas)
        if sqlite_file is not None:
            sqlite_file.watch(engine)
    elif engine.dialect.name == "postgresql":
        event.listen(engine, "connect", _postgresql_session)
        event.listen(engine, "before_cursor_execute", _postgresql_parameters, retval=True)
    try:
        _upgrade(engine, is_sqlite=is_sqlite)
    except Exception:
        engine.dispose()
        raise
    if sqlite_file is not None:
        sqlite_file.may_create = False
    return engine


def _upgrade(engine: Engine, *, is_sqlite: bool) -> None:
    config = alembic_config()
    with _migrate_lock, engine.connect() as connection:
        if is_sqlite:
            # Batch migrations copy and drop tables; with foreign keys on, that drop would cascade-delete
            # every message. The pragma only takes effect outside a transaction, hence before BEGIN.
            connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
            # Take the write lock before reading the version, so two processes starting on a new
            # file do not both try to create the tables. Waiting for it may take as long as the other process's
            # whole migration (seconds on a busy machine), longer than the usual busy timeout.
            connection.exec_driver_sql(f"PRAGMA busy_timeout={MIGRATION_WAIT_MS}")
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        elif connection.dialect.name == "postgresql":
            # Held until the commit below: a second process waits here, then finds the schema up to date.
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK_KEY})
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
        connection.commit()
        if is_sqlite:
            connection.exec_driver_sql("PRAGMA foreign_keys=ON")
            connection.exec_driver_sql(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            connection.commit()
