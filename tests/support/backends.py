"""The database backends a test runs on: one `db_url` fixture, parametrised as SQLite (a file in the test's
tmp_path that does not exist yet) and PostgreSQL (a new database on the real server, tests/support/postgres.py),
and an `engine` on it. A conftest imports the fixtures and calls `parametrize_backends` from its
`pytest_generate_tests`; a test marked `sqlite_only` runs on SQLite alone."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from storage.db import make_engine
from tests.support.postgres import postgres_database

BACKENDS = ("sqlite", "postgresql")


def parametrize_backends(metafunc: pytest.Metafunc) -> None:
    """Every test that reaches db_url (directly or through engine and session) runs on each backend."""
    if "db_url" in metafunc.fixturenames:
        sqlite_only = metafunc.definition.get_closest_marker("sqlite_only") is not None
        metafunc.parametrize("db_url", BACKENDS[:1] if sqlite_only else BACKENDS, indirect=True)


@pytest.fixture
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of a new, empty database: a SQLite file (that does not exist yet), or a PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'data' / 'simulacra.db'}"
        return
    with postgres_database() as url:
        yield url


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    engine = make_engine(db_url)
    yield engine
    engine.dispose()
