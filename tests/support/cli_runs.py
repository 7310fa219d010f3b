"""What the error tests of the command line share: running `simulacra` with bytes on stdin (which the conftest's
`cli` does not), a read-only file or folder, counting rows, and a conversation saved as the app saves one."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

import pytest

from simulator.registry import Registry
from simulator.values import SamplingSettings
from tests.support.processes import one_error_line
from ui.service.conversations.service import Conversations, parse_lane_spec
from ui.service.workspace import open_database

Run = Callable[..., subprocess.CompletedProcess[str]]
TABLES = ("conversation", "lane", "message", "annotation")


def read_db(home: Path, sql: str) -> list[tuple[Any, ...]]:
    """Rows of `sql` from `home`'s SQLite file, opened read-only as another program would while the app runs."""
    with sqlite3.connect(f"file:{home / 'data' / 'simulacra.db'}?mode=ro", uri=True, timeout=5) as db:
        return db.execute(sql).fetchall()


def run_piped(cli: Run, home: Path, stdin: bytes, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """`cli(home, *args, **env)` with `stdin` fed to the command."""
    return cli(home, *args, stdin=stdin, **env)


@contextmanager
def read_only(path: Path) -> Iterator[None]:
    """`path` (a file or a folder) read-only, even to root: a mode for a user, and for root, who writes
    whatever the mode, the immutable attribute (skipped where chattr is not allowed)."""
    if os.geteuid() != 0:
        mode = path.stat().st_mode
        path.chmod(0o555 if path.is_dir() else 0o444)
        try:
            yield
        finally:
            path.chmod(mode)
        return
    chattr = shutil.which("chattr")
    if chattr is None or subprocess.run([chattr, "+i", str(path)], capture_output=True).returncode != 0:
        pytest.skip("the tests run as root, and this file system or container does not allow chattr +i")
    try:
        yield
    finally:
        subprocess.run([chattr, "-i", str(path)], check=True)


def refused(result: subprocess.CompletedProcess[str]) -> str:
    """The one `error:` line of a command refused as bad input, which exits with code 2."""
    line = one_error_line(result)
    assert result.returncode == 2, result.stderr
    return line


def counts(home: Path) -> tuple[int, ...]:
    """Rows per table in `home`'s database (none before there is one): a refused command leaves these alone."""
    database = home / "data" / "simulacra.db"
    if not database.exists():
        return (0,) * len(TABLES)
    # Read-write, though it only reads: a read-only connection leaves the -wal and -shm files behind, and a
    # leftover -shm the command cannot write would make a read-only test of something else.
    with closing(sqlite3.connect(database, timeout=5)) as db:
        return tuple(db.execute(f"SELECT count(*) FROM {table}").fetchone()[0] for table in TABLES)


def seed(home: Path, registry: Registry) -> int:
    """A conversation with one base lane and a saved user message in `home`, made by the service the commands
    use, without running a model. Returns the message's id."""
    engine = open_database(f"sqlite:///{home / 'data' / 'simulacra.db'}")
    try:
        conversations = Conversations(engine, registry)
        conversation_id = conversations.create([parse_lane_spec("base@raw", SamplingSettings())])
        user_id: Any = conversations.plan_send(conversation_id, "Hello?").user_id
    finally:
        engine.dispose()
    assert isinstance(user_id, int)
    return user_id
