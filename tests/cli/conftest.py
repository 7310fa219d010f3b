# The `simulacra` console script, run as a user runs it: a subprocess with its own data folder, started
# in that folder so no .env or simulacra.toml from the checkout is read, and with no cloud keys.

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cli_runs import read_db

SIMULACRA = Path(sys.executable).with_name("simulacra")

Run = Callable[..., subprocess.CompletedProcess[str]]


def cli_env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SIMULACRA_") and k != "OPENAI_API_KEY"}
    env["SIMULACRA_DATA_DIR"] = str(home / "data")
    env["SIMULACRA_CONFIG"] = str(home / "simulacra.toml")
    env["SIMULACRA_THREADS"] = "1"  # other test runs share the two cores
    return {**env, **extra}


def run_cli(home: Path, *args: str, timeout: float = 300, **env: str) -> subprocess.CompletedProcess[str]:
    home.mkdir(parents=True, exist_ok=True)
    return subprocess.run(
        [str(SIMULACRA), *args], cwd=home, env=cli_env(home, **env), capture_output=True, text=True, timeout=timeout
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test here starts `simulacra` as a process (about 2 s each, most of it imports): marked `cli`, so
    the quick loop (`make test-fast`) can leave them to `make test`."""
    here = Path(__file__).parent
    for item in items:
        if here in item.path.parents:
            item.add_marker(pytest.mark.cli)


@pytest.fixture(scope="session")
def cli() -> Run:
    """`cli(home, *args, **env)` runs `simulacra ARGS...` with data in `home/data`; keyword arguments are extra
    environment variables. Returns the finished process (text stdout and stderr)."""
    return run_cli


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
