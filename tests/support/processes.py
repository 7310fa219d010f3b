"""Processes the tests start and stop: a free port, waiting for a server to answer, Streamlit apps and scripts served
on 127.0.0.1, and the CLI's one-line error."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    """The CLI's whole complaint: a non-zero exit, no traceback, and exactly one `error: ...` line."""
    assert result.returncode != 0
    assert "Traceback" not in result.stderr + result.stdout
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


def stop_process(process: subprocess.Popen[bytes] | subprocess.Popen[str]) -> None:
    """Ask a server to stop, and kill it if it has not within ten seconds."""
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on (closed again, so connecting to it is refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_server(url: str, process: subprocess.Popen[bytes], timeout: float, log: Path | None = None) -> None:
    """Wait until `url` answers 200; fail if the process exits first or time runs out, quoting the log's tail."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"{process.args!r} exited with {process.returncode}{_tail(log)}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise AssertionError(f"{url} did not answer within {timeout} s{_tail(log)}")


def _tail(log: Path | None) -> str:
    if log is None or not log.exists():
        return ""
    return ":\n" + log.read_text(errors="replace")[-2000:]


@contextmanager
def streamlit_server(command: list[str], port: int, cwd: Path, log: Path, timeout: float = 60) -> Iterator[str]:
    """Run a Streamlit server `command` (listening on `port`) with its output in `log`; yield its base URL once
    /_stcore/health answers, and stop it on the way out."""
    with log.open("wb") as output:  # a file, not a pipe: a full pipe would block the server
        process = subprocess.Popen(command, cwd=cwd, stdout=output, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_server(f"{url}/_stcore/health", process, timeout, log)
        yield url
    finally:
        stop_process(process)


@contextmanager
def serve_script(script: Path, *args: str, cwd: Path, log: Path) -> Iterator[str]:
    """Serve one Streamlit script (its own arguments after `--`) on a free port; yield its base URL."""
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(script),
        "--server.port",
        str(port),
        "--server.headless",
        "true",
        "--server.fileWatcherType",
        "none",
        "--browser.gatherUsageStats",
        "false",
        "--",
        *args,
    ]
    with streamlit_server(command, port, cwd=cwd, log=log) as url:
        yield url
