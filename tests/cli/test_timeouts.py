# `ask` against a chat server that stops answering: the server's lane ends within the configured limit (plus the
# five seconds the issue allows) with the app's own words, and the other lane answers. The server is
# llama-cpp-python's real one, SIGSTOPped before the request and mid-reply; CLI and configuration are real.

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.cli_runs import read_db
from tests.support.servers import chat_server

pytestmark = [pytest.mark.model, pytest.mark.slow]

Run = Callable[..., subprocess.CompletedProcess[str]]
FIRST_TOKEN_S, STALL_S, SLACK_S = 6, 3, 5


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    with chat_server(tmp_path / "server.log") as running:
        yield running


@pytest.fixture(scope="module")
def litellm_start_s() -> float:
    """What a new process pays to import litellm (seconds, measured here): a lane's clock starts before that
    import, the limits only once the request is sent."""
    started = time.monotonic()
    boot = "from simulator.litellm_boot import litellm; litellm()"
    subprocess.run([sys.executable, "-c", boot], check=True, capture_output=True, timeout=120)
    return time.monotonic() - started


def configure(home: Path, base: str) -> None:
    home.mkdir(parents=True, exist_ok=True)
    (home / "simulacra.toml").write_text(
        f'[[models]]\nname = "server"\nkind = "chat"\nlitellm = "openai/smollm2"\napi_base = "{base}"\n\n'
        f"[timeouts]\nfirst_token = {FIRST_TOKEN_S}\nstall = {STALL_S}\n"
    )


def lanes(result: subprocess.CompletedProcess[str]) -> dict[str, dict[str, object]]:
    assert result.returncode == 1, result.stderr  # one lane failed
    return {lane["label"]: lane for lane in json.loads(result.stdout)["lanes"]}


def test_a_server_stopped_before_the_request(
    cli: Run, tmp_path: Path, server: tuple[subprocess.Popen[bytes], str], litellm_start_s: float
) -> None:
    process, base = server
    configure(tmp_path, base)
    os.kill(process.pid, signal.SIGSTOP)
    result = cli(tmp_path, "ask", "Hi", "--lane", "server", "--lane", "chat", "--max-tokens", "8", "--json")
    by_label = lanes(result)
    stopped, other = by_label["server"], by_label["chat"]
    assert stopped["status"] == "error" and "did not start answering" in str(stopped["error"]), stopped
    assert float(stopped["total_ms"]) / 1000 <= FIRST_TOKEN_S + SLACK_S + litellm_start_s  # type: ignore[arg-type]
    assert other["status"] == "complete" and other["text"]


def test_a_server_stopped_mid_reply(cli: Run, tmp_path: Path, server: tuple[subprocess.Popen[bytes], str]) -> None:
    process, base = server
    configure(tmp_path, base)
    # Stopped once the reply is under way: the CLI saves a streaming reply's text every half second.
    written = "SELECT m.content FROM message m JOIN lane l ON l.id = m.lane_id WHERE l.label = 'server'"

    def stop_when_answering() -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if any(row[0] for row in read_db(tmp_path, written)):
                    break
            except sqlite3.Error:
                pass  # the CLI has not created its tables yet
            time.sleep(0.1)
        os.kill(process.pid, signal.SIGSTOP)

    stopper = threading.Thread(target=stop_when_answering, daemon=True)
    stopper.start()
    result = cli(
        tmp_path,
        "ask",
        "Write a long story about a dragon.",
        "--lane",
        "server",
        "--lane",
        "chat",
        "--max-tokens",
        "400",
        "--temperature",
        "0",
        "--json",
    )
    stopper.join(timeout=5)
    stopped, other = lanes(result)["server"], lanes(result)["chat"]
    assert stopped["status"] == "incomplete" and "stopped answering" in str(stopped["error"]), stopped
    assert stopped["text"]  # the reply so far is kept
    assert other["status"] == "complete" and other["text"]
