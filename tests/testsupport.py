"""Small checks and clean-ups that several test folders share (tests/ is on sys.path via its conftest)."""

from __future__ import annotations

import subprocess


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
