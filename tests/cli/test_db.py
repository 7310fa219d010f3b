# `simulacra db upgrade` and `simulacra db copy --to URL` as a user runs them, from a SQLite file to a real
# PostgreSQL; and a PostgreSQL URL with a wrong password: one `error:` line, exit code 2, nothing written.

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy.engine import make_url

from storage.db import alembic_config
from tests.support.factories import seed_transcripts
from tests.support.postgres import postgres_database
from tests.support.processes import one_error_line

Run = Callable[..., subprocess.CompletedProcess[str]]
IDS = {"id", "conversation_id", "lane_id", "parent_id", "message_id", "diverged_from_id"}
HEAD = ScriptDirectory.from_config(alembic_config()).get_current_head()


@pytest.fixture
def postgres_url() -> Iterator[str]:
    with postgres_database() as url:
        yield url


def _wrong_password(url: str) -> str:
    return make_url(url).set(password="not-the-password").render_as_string(hide_password=False)


def _without_ids(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_ids(v) for k, v in value.items() if k not in IDS}
    if isinstance(value, list):
        return [_without_ids(v) for v in value]
    return value


def _export_all(cli: Run, home: Path, **env: str) -> list[dict[str, Any]]:
    result = cli(home, "export", "--all", "--format", "json", **env)
    assert result.returncode == 0, result.stderr
    exported: list[dict[str, Any]] = json.loads(result.stdout)
    return exported


def test_upgrade_migrates_sqlite_and_postgresql(cli: Run, tmp_path: Path, postgres_url: str) -> None:
    result = cli(tmp_path, "db", "upgrade")
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"{tmp_path / 'data' / 'simulacra.db'} is at revision {HEAD}\n"
    result = cli(tmp_path, "db", "upgrade", SIMULACRA_DATABASE_URL=postgres_url)
    assert result.returncode == 0, result.stderr
    assert result.stdout.endswith(f" is at revision {HEAD}\n") and "***" in result.stdout  # no password shown
    assert cli(tmp_path, "list", SIMULACRA_DATABASE_URL=postgres_url).returncode == 0


def test_copy_from_sqlite_to_postgresql_keeps_every_export(cli: Run, tmp_path: Path, postgres_url: str) -> None:
    seed_transcripts(f"sqlite:///{tmp_path / 'data' / 'simulacra.db'}", 50)
    result = cli(tmp_path, "db", "copy", "--to", postgres_url)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("copied 50 conversations (100 lanes, 850 messages, 350 annotations) from ")
    before = _export_all(cli, tmp_path)
    after = _export_all(cli, tmp_path, SIMULACRA_DATABASE_URL=postgres_url)
    assert len(after) == 50 and _without_ids(after) == _without_ids(before)
    # The copy is searchable on PostgreSQL like the original on SQLite.
    found = cli(tmp_path, "search", "edited", SIMULACRA_DATABASE_URL=postgres_url)
    assert found.returncode == 0 and found.stdout.count("Transcript") >= 20, found.stdout


def test_copy_refuses_the_same_database_and_urls_that_are_not_one(cli: Run, tmp_path: Path) -> None:
    seed_transcripts(f"sqlite:///{tmp_path / 'data' / 'simulacra.db'}", 1)
    same = one_error_line(
        cli(tmp_path, "db", "copy", "--to", f"sqlite:///{tmp_path / 'data' / '..' / 'data' / 'simulacra.db'}")
    )
    assert "is the database in use" in same
    assert "is not a database URL" in one_error_line(cli(tmp_path, "db", "copy", "--to", "nonsense"))
    assert not (tmp_path / "nonsense").exists()


def test_a_wrong_postgresql_password_is_one_line_and_writes_nothing(
    cli: Run, tmp_path: Path, postgres_url: str
) -> None:
    wrong = _wrong_password(postgres_url)
    seed_transcripts(f"sqlite:///{tmp_path / 'data' / 'simulacra.db'}", 2)
    for args, env in (
        (("db", "copy", "--to", wrong), {}),
        (("db", "upgrade"), {"SIMULACRA_DATABASE_URL": wrong}),
        (("list",), {"SIMULACRA_DATABASE_URL": wrong}),
        (("annotate", "1", "--note", "x"), {"SIMULACRA_DATABASE_URL": wrong}),
    ):
        result = cli(tmp_path, *args, **env)
        line = one_error_line(result)
        assert result.returncode == 2, args
        assert "refused the user name or password" in line and "not-the-password" not in line, line
    # Nothing reached PostgreSQL: once migrated it holds no conversation, and the SQLite file still holds both.
    assert cli(tmp_path, "db", "upgrade", SIMULACRA_DATABASE_URL=postgres_url).returncode == 0
    assert _export_all(cli, tmp_path, SIMULACRA_DATABASE_URL=postgres_url) == []
    assert len(_export_all(cli, tmp_path)) == 2
