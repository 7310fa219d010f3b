"""The PostgreSQL server the tests create their databases on, and the skip (never in CI) when there is none."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

# The PostgreSQL server the tests create their databases on: a role that may CREATE DATABASE, and a database it
# can connect to. .ci/run sets it up; README says how to locally.
POSTGRES_DEFAULT_URL = "postgresql+psycopg://simulacra:simulacra@127.0.0.1:5432/postgres"


_postgres_problem: list[str] = []  # why the server could not be reached, once per run: not a timeout per test


def postgres_admin_url() -> str:
    """SIMULACRA_TEST_POSTGRES_URL, or the default role on 127.0.0.1:5432."""
    return os.environ.get("SIMULACRA_TEST_POSTGRES_URL", POSTGRES_DEFAULT_URL)


def _no_postgres(problem: str) -> None:
    message = (
        f"PostgreSQL is not reachable at {postgres_admin_url()} ({problem}): install and start it and create the role"
        " (README: Tests), or set SIMULACRA_TEST_POSTGRES_URL"
    )
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


@contextmanager
def postgres_database() -> Iterator[str]:
    """A new, empty PostgreSQL database on the test server; yields its URL and drops it afterwards.
    Without a reachable server the test is skipped, or fails where CI=true (CI must not skip)."""
    import secrets

    from sqlalchemy.engine import make_url

    if _postgres_problem:
        _no_postgres(_postgres_problem[0])
    admin = make_url(postgres_admin_url())
    try:
        import psycopg

        connection = psycopg.connect(
            host=admin.host,
            port=admin.port or 5432,
            user=admin.username,
            password=admin.password,
            dbname=admin.database or "postgres",
            autocommit=True,
            connect_timeout=5,
        )
    except Exception as e:  # a missing driver, a refused connection or a wrong password alike
        _postgres_problem.append(str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__)
        _no_postgres(_postgres_problem[0])
    name = f"simulacra_test_{secrets.token_hex(6)}"
    try:
        connection.execute(f'CREATE DATABASE "{name}"')  # type: ignore[arg-type]
        yield admin.set(database=name).render_as_string(hide_password=False)
    finally:
        _drop_database(connection, name)
        connection.close()


def _drop_database(connection: Any, name: str) -> None:
    """Drop a test database. An autovacuum worker on it belongs to the superuser, whom a test role may not
    terminate (FORCE then fails with InsufficientPrivilege): it finishes within moments, so try again."""
    for attempt in range(20):
        try:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            return
        except Exception:  # psycopg's InsufficientPrivilege or ObjectInUse while autovacuum works on it
            if attempt == 19:
                raise
            time.sleep(0.5)
