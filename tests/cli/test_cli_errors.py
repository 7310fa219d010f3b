# Bad input on the command line gets one `error: ...` line that says what to fix, a non-zero exit and
# never a traceback; a prompt too long for the model fails its lane but the user's message is still saved.

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from testsupport import one_error_line

Run = Callable[..., subprocess.CompletedProcess[str]]


@pytest.mark.parametrize(
    ("lane", "named"),
    [
        ("base@pirate", "pirate"),  # unknown mask
        ("nosuchmodel", "nosuchmodel"),  # unknown model
        ("base@@x", "base@@x"),  # malformed
        ("@assistant", "@assistant"),  # no model
    ],
)
def test_a_bad_lane_is_one_clear_error_and_nothing_is_saved(cli: Run, tmp_path: Path, lane: str, named: str) -> None:
    result = cli(tmp_path, "ask", "Hello?", "--lane", "base@raw", "--lane", lane, "--max-tokens", "4")

    assert named in one_error_line(result)
    assert result.stdout == ""
    database = tmp_path / "data" / "simulacra.db"
    if database.exists():
        assert json.loads(cli(tmp_path, "list", "--json").stdout) == []


def test_a_data_folder_that_cannot_be_created_is_one_clear_error(cli: Run, tmp_path: Path) -> None:
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")

    result = cli(tmp_path, "list", SIMULACRA_DATA_DIR=str(blocked))

    assert "cannot open the database" in one_error_line(result)


def test_an_unknown_conversation_is_one_clear_error(cli: Run, tmp_path: Path) -> None:
    assert "42" in one_error_line(cli(tmp_path, "export", "42"))


@pytest.mark.model
def test_a_prompt_longer_than_the_context_fails_the_lanes_and_keeps_the_message(cli: Run, tmp_path: Path) -> None:
    prompt = " ".join(f"dragon{i % 10}" for i in range(2000))

    result = cli(tmp_path, "ask", prompt, "--lane", "base@raw", "--lane", "chat", "--json", SIMULACRA_N_CTX="256")

    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    output = json.loads(result.stdout)
    for lane in output["lanes"]:
        assert lane["status"] == "error" and "too long" in lane["error"], lane["error"]
    exported = json.loads(cli(tmp_path, "export", str(output["conversation_id"])).stdout)
    assert [m["content"] for m in exported["messages"] if m["role"] == "user"] == [prompt]
    replies = [m for m in exported["messages"] if m["role"] == "model"]
    assert [m["status"] for m in replies] == ["error", "error"]
    assert all("too long" in m["error"] for m in replies)
