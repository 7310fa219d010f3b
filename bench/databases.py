"""Throwaway databases for the benchmarks: SQLite files in a temporary folder, or new databases on a PostgreSQL
server, dropped at the end. The server is SIMULACRA_BENCH_POSTGRES_URL, else the tests' SIMULACRA_TEST_POSTGRES_URL,
else the role .ci/run creates on 127.0.0.1 (README: Tests): a role that may CREATE DATABASE."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

BACKENDS = ("sqlite", "postgresql")
DEFAULT_POSTGRES_URL = "postgresql+psycopg://simulacra:simulacra@127.0.0.1:5432/postgres"


def postgres_admin_url() -> str:
    return os.environ.get("SIMULACRA_BENCH_POSTGRES_URL") or os.environ.get(
        "SIMULACRA_TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL
    )


class Databases:
    """`url(name)`: a new empty database of `backend` called `name` (a file, or simulacra_bench_<name>_<random>)."""

    def __init__(self, backend: str, directory: Path) -> None:
        self.backend = backend
        self.directory = directory
        self._admin: Any = None
        self._created: list[str] = []
        if backend == "postgresql":
            import psycopg

            admin = make_url(postgres_admin_url())
            self._server = admin
            try:
                self._admin = psycopg.connect(
                    host=admin.host,
                    port=admin.port or 5432,
                    user=admin.username,
                    password=admin.password,
                    dbname=admin.database or "postgres",
                    autocommit=True,
                    connect_timeout=5,
                )
            except psycopg.OperationalError as e:
                raise SystemExit(f"cannot reach PostgreSQL at {admin.render_as_string()}: {e}") from e

    def url(self, name: str) -> str:
        if self.backend == "sqlite":
            return f"sqlite:///{self.directory / f'{name}.db'}"
        database = f"simulacra_bench_{name}_{secrets.token_hex(4)}"
        self._admin.execute(f'CREATE DATABASE "{database}"')
        self._created.append(database)
        return str(self._server.set(database=database).render_as_string(hide_password=False))

    def analyze(self, url: str) -> None:
        """What autovacuum does on a live server soon after a bulk load: planner statistics (PostgreSQL only)."""
        if self.backend != "postgresql":
            return
        import psycopg

        parsed = make_url(url)
        with psycopg.connect(
            host=parsed.host, port=parsed.port or 5432, user=parsed.username, password=parsed.password,
            dbname=parsed.database, autocommit=True,
        ) as connection:  # fmt: skip
            connection.execute("VACUUM ANALYZE")

    def close(self) -> None:
        if self._admin is None:
            return
        for database in self._created:
            self._admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        self._admin.close()

    def __enter__(self) -> Databases:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()
