"""`simulacra experiment ...` as a user runs it: bad suites are one error line with nothing started; a run
killed with SIGKILL half-way resumes to exactly samples x cells with the aggregates of an unbroken run; a replay
of a local run finds no differences, and one of a lane on a server says that lane may not repeat its seeds."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import pytest

from tests.support.processes import one_error_line

SUITE = """
name = "tiny"
lanes = ["base@raw", "base@assistant"]
samples = {samples}
seed = 77
[settings]
max_tokens = 8
[[prompts]]
text = "What is the capital of France?"
[[scorers]]
name = "asks"
kind = "regex"
pattern = '\\?'
{scorer}
"""


def write(home: Path, samples: int = 4, scorer: str = "", name: str = "tiny.toml") -> str:
    home.mkdir(parents=True, exist_ok=True)
    path = home / name
    path.write_text(SUITE.format(samples=samples, scorer=scorer), encoding="utf-8")
    return str(path)


@pytest.mark.parametrize(
    ("change", "args", "words"),
    [
        ({"scorer": "colour = 'red'"}, (), "scorers.0.regex.colour: unknown key"),
        ({"scorer": "[[scorers]]\nname = 'x'\nkind = 'vibes'"}, (), "unknown scorer kind 'vibes'"),
        ({"scorer": "[[scorers]]\nname = 'x'\nkind = 'regex'\npattern = '('"}, (), "does not compile"),
        ({}, ("--samples", "0"), "samples"),
        ({}, ("--samples", "1001"), "samples"),
        ({}, ("--lane", "nosuchmodel"), "unknown model 'nosuchmodel'"),
        (
            {"scorer": "[[scorers]]\nname = 'x'\nkind = 'next_token'\ncontinuations = [' a']"},
            ("--lane", "chat"),
            "chat",
        ),
        (
            {"scorer": "[[scorers]]\nname = 'x'\nkind = 'judge'\nmodel = 'openai/gpt-4o-mini'\nrubric = 'Fine?'"},
            ("--judge",),
            "judge scorer 'x': openai/gpt-4o-mini: no API key. Set OPENAI_API_KEY",
        ),
    ],
)
def test_bad_input_is_one_line_and_starts_nothing(cli, tmp_path, change, args, words) -> None:  # type: ignore[no-untyped-def]
    path = write(tmp_path, **change)
    result = cli(tmp_path, "experiment", "run", path, *args)
    assert result.returncode == 2, result.stderr
    assert words in one_error_line(result)
    runs = cli(tmp_path, "experiment", "runs", "--json")
    assert json.loads(runs.stdout or "[]") == []


def test_unknown_suite_lists_the_builtins(cli, tmp_path) -> None:  # type: ignore[no-untyped-def]
    result = cli(tmp_path, "experiment", "show", "nope")
    assert "unknown suite 'nope'; available: assistant-axis, capital-quiz" in one_error_line(result)


def _aggregates(report: dict) -> list:  # type: ignore[type-arg]
    return [
        (lane["lane"], lane["scorers"], [s["seed"] for c in lane["cells"] for s in c["samples"]])
        for lane in report["lanes"]
    ]


@pytest.mark.model
@pytest.mark.slow
def test_kill_9_then_resume_matches_an_unbroken_run(cli, cli_start, db_rows, tmp_path) -> None:  # type: ignore[no-untyped-def]
    broken, whole = tmp_path / "broken", tmp_path / "whole"
    process = cli_start(broken, "experiment", "run", write(broken, samples=4))
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        try:
            done = db_rows(broken, "SELECT count(*) FROM run_sample")[0][0]
        except Exception:  # noqa: BLE001 - the database is not created yet
            done = 0
        if done >= 3:
            break
        time.sleep(0.2)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert 3 <= db_rows(broken, "SELECT count(*) FROM run_sample")[0][0] < 8
    assert db_rows(broken, "SELECT status FROM run")[0][0] == "running"
    resumed = cli(broken, "experiment", "resume", "1", "--json")
    assert resumed.returncode == 0, resumed.stderr
    rows = db_rows(broken, "SELECT cell_id, sample_index FROM run_sample")
    assert len(rows) == 8 and len(set(rows)) == 8  # samples x cells, no duplicates
    replies = db_rows(broken, "SELECT count(*) FROM message WHERE role = 'model'")[0][0]
    assert replies == 8  # replies the kill left unlinked were drawn again, not kept beside the new ones
    unbroken = cli(whole, "experiment", "run", write(whole, samples=4), "--json")
    assert unbroken.returncode == 0, unbroken.stderr
    assert _aggregates(json.loads(resumed.stdout)) == _aggregates(json.loads(unbroken.stdout))

    replay = cli(whole, "experiment", "replay", "1", "--json")
    assert replay.returncode == 0, replay.stdout + replay.stderr
    result = json.loads(replay.stdout)
    assert result["compared"] == 8 and result["differences"] == 0
    md = cli(whole, "experiment", "report", "1", "--format", "md")
    assert "| base@raw | 4 |" in md.stdout and "seeds 77..80" in md.stdout


SERVER_SUITE = """
name = "served"
lanes = ["team-chat"]
samples = 1  # two at once to this test server ended one stream early: a problem of its own
seed = 1000
[settings]
max_tokens = 6
[[prompts]]
text = "What is the capital of France?"
[[scorers]]
name = "answers_paris"
kind = "contains"
text = ["Paris"]
"""


@pytest.mark.model
def test_a_replay_says_a_lane_on_a_server_may_not_repeat(cli, tmp_path, openai_server) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "simulacra.toml").write_text(
        f'[[models]]\nname = "team-chat"\nkind = "chat"\nlitellm = "openai/smollm2"\napi_base = "{openai_server}"\n'
    )
    (tmp_path / "served.toml").write_text(SERVER_SUITE)
    run = cli(tmp_path, "experiment", "run", str(tmp_path / "served.toml"), "--json")
    assert run.returncode == 0, run.stderr

    replay = cli(tmp_path, "experiment", "replay", "1")

    assert replay.returncode in (0, 1) and "Traceback" not in replay.stderr  # 1: a sample differed
    assert replay.stdout.startswith("replay 2 of run 1: ")
    note = replay.stdout.splitlines()[-1]
    assert note.startswith("Note: team-chat answer from a server or a cloud API, not in this process")
    assert note.endswith("may differ in any replay.")
