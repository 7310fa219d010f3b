# A reply is saved while it streams: killing `simulacra ask` mid-reply leaves what was already generated in
# the database, marked incomplete.

from __future__ import annotations

import signal
import sqlite3
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.model

SIMULACRA_ARGS = [
    "ask",
    "Write a long story about a dragon.",
    "--lane",
    "base@raw",
    "--max-tokens",
    "2000",
    "--temperature",
    "0.8",
    "--seed",
    "3",
]
REPLY = "SELECT id, status, content FROM message WHERE role = 'model'"


def wait_for_partial_replies(
    process: subprocess.Popen[str],
    home: Path,
    db_rows: Callable[[Path, str], list[tuple[Any, ...]]],
    count: int,
) -> list[tuple[Any, ...]]:
    """Poll the database until `count` different non-empty incomplete versions of the reply were read."""
    deadline = time.monotonic() + 120
    seen: list[tuple[Any, ...]] = []
    while len(seen) < count:
        assert process.poll() is None, "the reply ended before it could be interrupted"
        assert time.monotonic() < deadline, f"partial replies saved within 120 s: {seen}"
        try:
            rows = db_rows(home, REPLY)
        except sqlite3.Error:  # the file or its tables do not exist yet
            rows = []
        seen += [row for row in rows if row[1] == "incomplete" and row[2] and row not in seen]
        time.sleep(0.1)
    return seen


def test_killing_the_process_mid_reply_keeps_the_streamed_text(
    tmp_path: Path,
    cli_start: Callable[..., subprocess.Popen[str]],
    db_rows: Callable[[Path, str], list[tuple[Any, ...]]],
) -> None:
    process = cli_start(tmp_path, *SIMULACRA_ARGS)
    try:
        seen = wait_for_partial_replies(process, tmp_path, db_rows, count=2)  # two: rewritten as it grows
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()

    message_id, _, partial = seen[-1]
    assert partial.startswith(seen[0][2])
    ((status, content),) = db_rows(tmp_path, f"SELECT status, content FROM message WHERE id = {message_id}")
    assert status == "incomplete"
    assert content.strip() and content.startswith(partial)


def test_ctrl_c_mid_reply_aborts_without_a_traceback_and_keeps_the_text(
    tmp_path: Path,
    cli_start: Callable[..., subprocess.Popen[str]],
    db_rows: Callable[[Path, str], list[tuple[Any, ...]]],
) -> None:
    process = cli_start(tmp_path, *SIMULACRA_ARGS, stderr=subprocess.PIPE)
    try:
        wait_for_partial_replies(process, tmp_path, db_rows, count=1)
    finally:
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=60)

    assert process.returncode != 0
    assert "Traceback" not in stderr and "Aborted!" in stderr
    ((status, content),) = db_rows(tmp_path, "SELECT status, content FROM message WHERE role = 'model'")
    assert status == "incomplete" and content.strip()
