# The `simulacra` command as a user runs it, with its own data folder and no .env, simulacra.toml or cloud keys from
# the checkout. Most tests run it in-process through click's CliRunner (the same `main`, the same exit codes,
# stdout and stderr, about 2 s of imports saved per call); `cli_process` and `cli_start` run the real console
# script for what only a process shows: kill -9, llama.cpp's own writes to file descriptor 2, a missing driver.

from __future__ import annotations

import logging
import os
import subprocess
import sys
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.support.cli_runs import read_db

SIMULACRA = Path(sys.executable).with_name("simulacra")

Run = Callable[..., subprocess.CompletedProcess[str]]


def cli_env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SIMULACRA_") and k != "OPENAI_API_KEY"}
    env["SIMULACRA_DATA_DIR"] = str(home / "data")
    env["SIMULACRA_CONFIG"] = str(home / "simulacra.toml")
    env["SIMULACRA_THREADS"] = "1"  # other test runs share the two cores
    return {**env, **extra}


def run_cli_process(
    home: Path, *args: str, timeout: float = 300, stdout: Path | None = None, **env: str
) -> subprocess.CompletedProcess[str]:
    """`stdout` is a file the command writes its output to (/dev/full), instead of a captured pipe."""
    home.mkdir(parents=True, exist_ok=True)
    command, where = [str(SIMULACRA), *args], cli_env(home, **env)
    if stdout is None:
        return subprocess.run(command, cwd=home, env=where, capture_output=True, text=True, timeout=timeout)
    with stdout.open("w") as out:
        done = subprocess.run(
            command, cwd=home, env=where, stdout=out, stderr=subprocess.PIPE, text=True, timeout=timeout
        )
    return subprocess.CompletedProcess(done.args, done.returncode, "", done.stderr)


@contextmanager
def as_a_process_would_run(home: Path, env: dict[str, str]) -> Iterator[None]:
    """The environment, working folder and logging a fresh `simulacra` process starts with, put back after."""
    saved_env, saved_cwd = dict(os.environ), os.getcwd()
    root = logging.getLogger()
    saved_handlers, saved_levels = (
        root.handlers[:],
        {name: logging.getLogger(name).level for name in ("simulacra", "simulator", "personas", "storage", "ui")},
    )
    saved_levels["simulacra.llama"] = logging.getLogger("simulacra.llama").level
    os.environ.clear()
    os.environ.update(env)
    os.chdir(home)
    root.handlers = []  # so the command's logging.basicConfig writes its warnings to its own stderr
    try:
        yield
    finally:
        root.handlers = saved_handlers
        for name, level in saved_levels.items():
            logging.getLogger(name).setLevel(level)
        os.chdir(saved_cwd)
        os.environ.clear()
        os.environ.update(saved_env)


def run_cli(
    home: Path, *args: str, timeout: float = 300, stdin: bytes | None = None, **env: str
) -> subprocess.CompletedProcess[str]:
    """`simulacra ARGS...` in this process. An exception that escapes the command is written to stderr as the
    interpreter would write it, with exit code 1, so a test that forbids tracebacks still sees one."""
    from click.testing import CliRunner

    from ui.cli import main

    del timeout  # kept for the signature `cli_process` shares; pytest-timeout bounds a stuck command
    home.mkdir(parents=True, exist_ok=True)
    with as_a_process_would_run(home, cli_env(home, **env)):
        result = CliRunner().invoke(main, list(args), input=stdin, catch_exceptions=True, prog_name="simulacra")
    stderr = result.stderr
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        stderr += "Traceback (most recent call last):\n" + "".join(traceback.format_exception(result.exception))
    return subprocess.CompletedProcess([str(SIMULACRA), *args], result.exit_code, result.stdout, stderr)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test here drives `simulacra` (many with the bundled models, some as a process): marked `cli`, so the
    quick loop (`make test-fast`) can leave them to `make test`."""
    here = Path(__file__).parent
    for item in items:
        if here in item.path.parents:
            item.add_marker(pytest.mark.cli)


@pytest.fixture(scope="session")
def cli() -> Run:
    """`cli(home, *args, stdin=None, **env)` runs `simulacra ARGS...` in-process with data in `home/data`;
    keyword arguments are extra environment variables, `stdin` bytes fed to it. Returns what a finished process
    would (exit code, text stdout and stderr)."""
    return run_cli


@pytest.fixture(scope="session")
def cli_process() -> Run:
    """Like `cli`, but the real console script in a subprocess: for what only a process shows."""
    return run_cli_process


@pytest.fixture(scope="session")
def cli_start() -> Callable[..., subprocess.Popen[str]]:
    """`cli_start(home, *args, stderr=..., **env)`: like `cli`, but returns the running process at once."""

    def start(home: Path, *args: str, stderr: int = subprocess.DEVNULL, **env: str) -> subprocess.Popen[str]:
        home.mkdir(parents=True, exist_ok=True)
        return subprocess.Popen(
            [str(SIMULACRA), *args],
            cwd=home,
            env=cli_env(home, **env),
            text=True,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )

    return start


@pytest.fixture(scope="session")
def db_rows() -> Callable[[Path, str], list[tuple[Any, ...]]]:
    """`db_rows(home, sql)` reads the app's SQLite file read-only, as another program would while it runs."""
    return read_db
