# Beyond one question: the default lanes, a follow-up turn in the same conversation (each lane sees its own
# earlier reply) and the plain side-by-side output.

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

Run = Callable[..., subprocess.CompletedProcess[str]]
GREEDY = ["--temperature", "0", "--seed", "1", "--max-tokens", "12"]


@pytest.mark.model
@pytest.mark.slow
def test_default_lanes_then_a_follow_up_turn_that_remembers_the_first(cli: Run, tmp_path: Path) -> None:
    first = cli(tmp_path, "ask", "What is the capital of France?", "--json", *GREEDY)
    assert first.returncode == 0, first.stderr
    output = json.loads(first.stdout)
    assert [lane["label"] for lane in output["lanes"]] == ["base@raw", "base@assistant", "chat"]
    conversation = str(output["conversation_id"])

    follow_up = cli(tmp_path, "ask", "And of Italy?", "--conversation", conversation)

    assert follow_up.returncode == 0, follow_up.stderr
    assert "base@assistant" in follow_up.stdout and f"conversation {conversation}" in follow_up.stdout
    exported = json.loads(cli(tmp_path, "export", conversation).stdout)
    first_question, second_question = (m for m in exported["messages"] if m["role"] == "user")
    assert second_question["parent_id"] == first_question["id"]
    assistant_lane = next(lane for lane in exported["lanes"] if lane["label"] == "base@assistant")
    first_reply, second_reply = (m for m in exported["messages"] if m["lane_id"] == assistant_lane["id"])
    assert second_reply["parent_id"] == second_question["id"] and second_reply["status"] == "complete"
    # The document the base model continued holds the whole conversation so far, its own reply included.
    assert f"Ada: {first_reply['content'].strip()}\nUser: And of Italy?\nAda:" in second_reply["prompt"]


def test_continuing_a_conversation_with_new_lanes_is_an_error(cli: Run, tmp_path: Path) -> None:
    result = cli(tmp_path, "ask", "Hi", "--conversation", "1", "--lane", "chat")

    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [
        "error: --conversation continues with the conversation's own lanes; leave out --lane and --steer"
    ]


@pytest.mark.model
def test_settings_typed_with_a_follow_up_apply_to_that_turn_and_are_recorded(cli: Run, tmp_path: Path) -> None:
    first = cli(
        tmp_path,
        "ask",
        "Tell me a long story about a dragon.",
        "--lane",
        "base@raw",
        "--json",
        "--temperature",
        "0",
        "--max-tokens",
        "64",
    )
    assert first.returncode == 0, first.stderr
    conversation = str(json.loads(first.stdout)["conversation_id"])

    follow_up = cli(tmp_path, "ask", "Go on.", "--conversation", conversation, "--max-tokens", "5", "--json")

    assert follow_up.returncode == 0, follow_up.stderr
    [lane] = json.loads(follow_up.stdout)["lanes"]
    assert len(lane["tokens"]) <= 5 and lane["finish_reason"] == "length"
    exported = json.loads(cli(tmp_path, "export", conversation).stdout)
    first_reply, second_reply = (m for m in exported["messages"] if m["role"] == "model")
    # Only what was typed changes: the lane's temperature 0 still holds, and the lane itself is unchanged.
    assert (first_reply["settings"]["max_tokens"], second_reply["settings"]["max_tokens"]) == (64, 5)
    assert second_reply["settings"]["temperature"] == 0 and exported["lanes"][0]["max_tokens"] == 64
