# A cloud API over its rate limit, in a run and in a turn: an experiment's chat sample waits what the server's
# Retry-After asks and is drawn, with its retries recorded; `simulacra ask` shows the refusal at once, in the
# server's words. The server is the HeaderRecordingServer stand-in's `/busy/` path (tests/support/standins.py):
# no real server answers 429 twice on demand, then serves.

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tests.support.cli_runs import Run
from tests.support.standins import REFUSALS, SLOW_DOWN, HeaderRecordingServer

# litellm's first import costs about 9 s.
pytestmark = pytest.mark.slow

SUITE = """
name = "busy"
lanes = ["busy-chat"]
samples = 1
seed = 1
[settings]
max_tokens = 6
[[prompts]]
text = "Say hello."
[[scorers]]
name = "greets"
kind = "contains"
text = ["Hello"]
"""


def configure(home: Path, api_base: str) -> None:
    home.mkdir(parents=True, exist_ok=True)
    (home / "simulacra.toml").write_text(
        f'[[models]]\nname = "busy-chat"\nkind = "chat"\nlitellm = "openai/stand-in"\napi_base = "{api_base}"\n'
    )


def test_a_run_retries_a_rate_limited_sample_and_records_it(cli: Run, tmp_path: Path) -> None:
    configure(tmp_path, "")  # written again below, once the server's port is known
    (tmp_path / "busy.toml").write_text(SUITE)
    with HeaderRecordingServer() as server:
        configure(tmp_path, server.url + "/busy/v1")
        started = time.monotonic()
        run = cli(tmp_path, "experiment", "run", str(tmp_path / "busy.toml"), "--json")
        took = time.monotonic() - started
        asked = len(server.requests_to("/chat/completions"))

    assert run.returncode == 0, run.stderr
    assert asked == REFUSALS + 1
    assert took >= REFUSALS * 1.0  # Retry-After: 1, honoured each time
    report = cli(tmp_path, "experiment", "report", "1", "--format", "json")
    assert report.returncode == 0, report.stderr
    ((sample,),) = [cell["samples"] for lane in json.loads(report.stdout)["lanes"] for cell in lane["cells"]]
    assert sample["retries"] == REFUSALS
    assert sample["text"] == "Hello there" and sample["scores"] == {"greets": True}


def test_an_interactive_turn_is_refused_at_once_in_the_servers_words(cli: Run, tmp_path: Path) -> None:
    with HeaderRecordingServer() as server:
        configure(tmp_path, server.url + "/busy/v1")
        result = cli(tmp_path, "ask", "Say hello.", "--lane", "busy-chat", "--json")
        asked = len(server.requests_to("/chat/completions"))

    assert result.returncode != 0 and "Traceback" not in result.stderr
    (lane,) = json.loads(result.stdout)["lanes"]
    assert lane["status"] == "error" and lane["text"] == ""
    assert f"rate limited by the server at {server.url}/busy/v1 ({SLOW_DOWN}); it asks to wait 1 s" in lane["error"]
    assert asked == 1  # asked once: not again after the second the server asked for
