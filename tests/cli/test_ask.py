# `simulacra ask` with the three kinds of default lane, then `export` and `list` on what it saved: the
# acceptance run of the command line, as a subprocess with the real bundled models.

from __future__ import annotations

import json
import math
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

QUESTION = "What is the capital of France?"
ASK = [QUESTION, "--lane", "base@raw", "--lane", "base@assistant", "--lane", "chat", "--json"]
SAMPLING = ["--temperature", "0", "--seed", "1", "--max-tokens", "32"]
LANES = [("base@raw", "base", "raw"), ("base@assistant", "base", "assistant"), ("chat", "chat", None)]
Run = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("ask")


@pytest.fixture(scope="module")
def asked(cli: Run, home: Path) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    result = cli(home, "ask", *ASK, *SAMPLING)
    assert result.stdout.strip(), result.stderr
    return result, json.loads(result.stdout)


@pytest.mark.model
@pytest.mark.slow
def test_ask_answers_in_every_lane(asked: tuple[subprocess.CompletedProcess[str], dict[str, Any]]) -> None:
    result, output = asked

    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert [(lane["label"], lane["model"], lane["mask"]) for lane in output["lanes"]] == LANES
    for lane in output["lanes"]:
        assert lane["status"] == "complete" and lane["error"] is None
        assert lane["text"].strip()
        assert lane["tokens"] and "".join(token["text"] for token in lane["tokens"]) == lane["text"]
        assert all(
            set(token) == {"text", "p", "top", "entropy", "entropy_bound", "surprisal"} for token in lane["tokens"]
        )
        assert lane["ttft_ms"] > 0 and lane["tokens_per_s"] > 0
    raw, assistant, chat = output["lanes"]
    for base_lane in (raw, assistant):
        assert all(token["p"] > 0 and len(token["top"]) == 5 for token in base_lane["tokens"])
        # In-process: the whole vocabulary's entropy, exact (not a bound); surprisal is −ln p.
        assert all(token["entropy"] >= 0 and token["entropy_bound"] is False for token in base_lane["tokens"])
        assert all(token["surprisal"] == pytest.approx(-math.log(token["p"])) for token in base_lane["tokens"])
    assert "Paris" in assistant["text"] and "User:" not in assistant["text"]
    assert all(token["p"] is None and token["top"] == [] and token["entropy"] is None for token in chat["tokens"])


@pytest.mark.model
@pytest.mark.slow
def test_export_has_the_question_every_reply_and_each_lanes_mask_and_settings(
    cli: Run, home: Path, asked: tuple[subprocess.CompletedProcess[str], dict[str, Any]]
) -> None:
    _, output = asked

    result = cli(home, "export", str(output["conversation_id"]), "--format", "json")

    assert result.returncode == 0, result.stderr
    exported = json.loads(result.stdout)
    users = [m for m in exported["messages"] if m["role"] == "user"]
    assert [m["content"] for m in users] == [QUESTION]
    lanes = sorted(exported["lanes"], key=lambda lane: lane["position"])
    replies = {m["lane_id"]: m for m in exported["messages"] if m["role"] == "model"}
    assert len(replies) == 3
    for lane, shown in zip(lanes, output["lanes"], strict=True):
        reply = replies[lane["id"]]
        assert reply["parent_id"] == users[0]["id"]
        assert reply["status"] == "complete" and reply["content"] == shown["text"]
        assert (lane["temperature"], lane["seed"], lane["max_tokens"]) == (0.0, 1, 32)
    raw, assistant, chat = lanes
    assert raw["mask_snapshot"]["name"] == "raw" and raw["mask_snapshot"]["turn_format"] == "{text}\n"
    assert assistant["mask_snapshot"]["name"] == "assistant"
    assert assistant["mask_snapshot"]["character_name"] == "Ada" and assistant["mask_snapshot"]["frame"]
    assert chat["mask_snapshot"] is None  # the chat lane wore no mask


@pytest.mark.model
@pytest.mark.slow
def test_list_shows_the_saved_conversation(
    cli: Run, home: Path, asked: tuple[subprocess.CompletedProcess[str], dict[str, Any]]
) -> None:
    _, output = asked

    result = cli(home, "list", "--json")

    assert result.returncode == 0, result.stderr
    (row,) = json.loads(result.stdout)
    assert row["id"] == output["conversation_id"]
    assert row["title"] == QUESTION
    assert row["lane_labels"] == [label for label, _, _ in LANES]


@pytest.mark.model
@pytest.mark.slow
def test_a_lane_without_its_api_key_fails_alone(cli: Run, tmp_path: Path) -> None:
    result = cli(tmp_path, "ask", *ASK, "--lane", "openai/gpt-4o-mini", *SAMPLING)

    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert result.stdout.strip(), (result.returncode, result.stderr)
    *working, cloud = json.loads(result.stdout)["lanes"]
    assert cloud["status"] == "error" and "OPENAI_API_KEY" in cloud["error"]
    assert cloud["text"] == ""
    assert [lane["status"] for lane in working] == ["complete"] * 3
    assert all(lane["text"].strip() for lane in working)


def test_masks_list_names_the_built_in_masks(cli: Run, tmp_path: Path) -> None:
    plain = cli(tmp_path, "masks", "list")
    as_json = cli(tmp_path, "masks", "list", "--json")

    assert plain.returncode == 0 and as_json.returncode == 0, plain.stderr + as_json.stderr
    names = [line.split()[0] for line in plain.stdout.splitlines() if line.strip()]
    assert {"raw", "assistant"} <= set(names)
    assert [mask["name"] for mask in json.loads(as_json.stdout)] == names


def test_list_is_empty_before_anything_is_asked(cli: Run, tmp_path: Path) -> None:
    result = cli(tmp_path, "list", "--json")

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == []
