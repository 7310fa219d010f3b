# The engine factory and migrations: a fresh database gets the schema (and a SQLite file its pragmas), and can be
# reopened; engines and processes started at once on a new database do not both create the tables.

import subprocess
import sys
import threading
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect
from sqlmodel import Session, SQLModel

from storage import repo
from storage.db import alembic_config, default_database_url, make_engine
from storage.search.query import alembic_include_name

TABLES = {"conversation", "lane", "message", "annotation"}


def test_migration_creates_tables_and_creates_the_folder(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "er" / "simulacra.db"
    engine = make_engine(f"sqlite:///{path}")
    try:
        assert path.exists()
        assert TABLES | {"alembic_version"} <= set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


@pytest.mark.sqlite_only
def test_pragmas_are_set_on_every_connection(engine: Engine) -> None:
    with engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() == 5000
        assert connection.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL


def test_migrations_match_the_tables(engine: Engine) -> None:
    with engine.connect() as connection:
        opts = {"compare_type": True, "include_name": alembic_include_name}
        context = MigrationContext.configure(connection, opts=opts)
        assert compare_metadata(context, SQLModel.metadata) == []


def test_downgrade_to_base_and_back(engine: Engine) -> None:
    config = alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "base")
        assert not TABLES & set(inspect(connection).get_table_names())
        command.upgrade(config, "head")
        assert TABLES <= set(inspect(connection).get_table_names())


def test_reopening_keeps_data(db_url: str) -> None:
    first = make_engine(db_url)
    with Session(first) as session:
        conversation_id = repo.create_conversation(session=session, title="kept").id
    first.dispose()
    second = make_engine(db_url)
    try:
        with Session(second) as session:
            assert conversation_id is not None
            assert repo.get_conversation(session=session, conversation_id=conversation_id).title == "kept"
    finally:
        second.dispose()


def test_engines_created_at_once_on_a_new_file(db_url: str) -> None:
    engines: list[Engine] = []
    errors: list[BaseException] = []

    def open_engine() -> None:
        try:
            engines.append(make_engine(db_url))
        except BaseException as e:  # reported below, in the test thread
            errors.append(e)

    threads = [threading.Thread(target=open_engine) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    try:
        assert errors == []
        assert len(engines) == 4
        with engines[0].connect() as connection:
            head = ScriptDirectory.from_config(alembic_config()).get_current_head()
            assert connection.exec_driver_sql("SELECT version_num FROM alembic_version").all() == [(head,)]
    finally:
        for engine in engines:
            engine.dispose()


def test_default_database_url_is_a_file_under_local_share() -> None:
    url = default_database_url()
    assert url.startswith("sqlite:///")
    assert url.endswith("/.local/share/simulacra/simulacra.db")
    assert str(Path.home()) in url


def test_processes_started_at_once_on_a_new_file(db_url: str) -> None:
    # Two app processes (say a CLI and Streamlit) on a first start must not both create the tables.
    code = "import sys; from storage.db import make_engine; make_engine(sys.argv[1]).dispose()"
    processes = [
        subprocess.Popen([sys.executable, "-c", code, db_url], stderr=subprocess.PIPE, text=True) for _ in range(3)
    ]
    results = [(p.wait(timeout=60), p.stderr.read() if p.stderr else "") for p in processes]
    assert results == [(0, "")] * 3


def test_in_memory_database_is_one_database_across_threads() -> None:
    engine = make_engine("sqlite://")
    try:

        def write() -> None:
            with Session(engine) as session:
                repo.create_conversation(session=session, title="in memory")

        thread = threading.Thread(target=write)
        thread.start()
        thread.join()
        with Session(engine) as session:
            assert [s.title for s in repo.list_conversations(session=session)] == ["in memory"]
    finally:
        engine.dispose()
