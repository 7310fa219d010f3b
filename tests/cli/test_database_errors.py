# A database the command cannot use says so in one `error:` line with exit code 2, and nothing is written:
# a URL that is not one, a driver that is not installed (naming the package), a read-only file or folder,
# and a conversation that is not there.

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from simulator.registry import Registry
from tests.support.cli_runs import counts, read_only, refused, seed

Run = Callable[..., subprocess.CompletedProcess[str]]


@pytest.mark.parametrize(
    ("url", "named"),
    [
        ("notaurl", "'notaurl'"),
        ("nosuchdialect://x", "nosuchdialect"),
        ("postgresql+asyncpg://u:secret@127.0.0.1/db", "pip install 'psycopg[binary]'"),
        ("mysql://u:secret@127.0.0.1/db", "pip install 'mysqlclient'"),
    ],
)
def test_a_database_url_that_cannot_be_used_names_what_to_fix(cli: Run, tmp_path: Path, url: str, named: str) -> None:
    for command in (["list"], ["annotate", "1", "--note", "x"], ["ask", "Hello?", "--lane", "base@raw"]):
        line = refused(cli(tmp_path, *command, SIMULACRA_DATABASE_URL=url))
        assert named in line and "secret" not in line, command


def test_a_missing_postgresql_driver_names_the_package(cli_process: Run, tmp_path: Path) -> None:
    # A stand-in that injects the fault: psycopg is installed here, so a `psycopg` module that fails to import,
    # first on the path, makes the command meet a machine without it.
    hiding = tmp_path / "without-psycopg"
    hiding.mkdir()
    (hiding / "psycopg.py").write_text("raise ModuleNotFoundError(\"No module named 'psycopg'\", name='psycopg')\n")
    path = os.pathsep.join(filter(None, [str(hiding), os.environ.get("PYTHONPATH")]))

    result = cli_process(tmp_path, "list", SIMULACRA_DATABASE_URL="postgresql://u@127.0.0.1:1/db", PYTHONPATH=path)

    line = refused(result)
    assert "needs psycopg, which is not installed: pip install 'psycopg[binary]'" in line


@pytest.mark.parametrize("blocked", ["file", "folder"])
@pytest.mark.parametrize("command", ["annotate", "ask"])
def test_a_read_only_database_says_so_and_nothing_is_written(
    cli: Run, tmp_path: Path, registry: Registry, blocked: str, command: str
) -> None:
    message = seed(tmp_path, registry)
    database = tmp_path / "data" / "simulacra.db"
    before = counts(tmp_path)
    args = {
        "annotate": ["annotate", str(message), "--tag", "fine", "--note", "kept"],
        "ask": ["ask", "Hello?", "--lane", "base@raw", "--max-tokens", "2"],
    }[command]

    with read_only(database if blocked == "file" else database.parent):
        result = cli(tmp_path, *args)

    line = refused(result)
    assert f"the database {database}" in line and "read-only" in line
    assert counts(tmp_path) == before


def test_asking_in_an_unknown_conversation_is_one_clear_error(cli: Run, tmp_path: Path, registry: Registry) -> None:
    seed(tmp_path, registry)
    before = counts(tmp_path)

    assert "999" in refused(cli(tmp_path, "ask", "Hello?", "--conversation", "999"))
    assert counts(tmp_path) == before


def test_rendering_a_mask_on_an_unknown_conversation_is_one_clear_error(cli: Run, tmp_path: Path) -> None:
    assert "999" in refused(cli(tmp_path, "masks", "render", "assistant", "--conversation", "999"))
