# The multiverse from the command line: `ask --samples` draws several replies per base lane with their own
# seeds and mask-fidelity metrics, `branch` continues one of them from a different token, and the json
# export carries the metrics. Real `simulacra` subprocesses on the bundled models.

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

pytestmark = [pytest.mark.model, pytest.mark.slow]

Run = Callable[..., subprocess.CompletedProcess[str]]
METRICS = {
    "in_character_p",
    "ended_by",
    "spoke_for_user",
    "perplexity",
    "raw_perplexity",
    "mask_effect",
    "mask_effect_unavailable",
    "mean_entropy",
    "max_surprisal",
    "entropy_bound",
}


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("multiverse")


@pytest.fixture(scope="module")
def sampled(cli: Run, home: Path) -> dict[str, Any]:
    result = cli(
        home,
        "ask",
        "Tell me a story about a fox.",
        "--lane",
        "base@assistant",
        "--lane",
        "chat",
        "--samples",
        "3",
        "--temperature",
        "1",
        "--max-tokens",
        "16",
        "--json",
    )
    assert result.returncode == 0, result.stderr
    output: dict[str, Any] = json.loads(result.stdout)
    return output


def test_samples_have_seeds_and_metrics(sampled: dict[str, Any]) -> None:
    base, chat = sampled["lanes"]
    samples = base["samples"]
    assert len(samples) == 3
    assert len({s["seed"] for s in samples}) == 3 and None not in {s["seed"] for s in samples}
    assert len({s["message_id"] for s in samples}) == 3
    for sample in samples:
        assert set(sample["metrics"]) == METRICS
        assert 0 < sample["metrics"]["in_character_p"] <= 1
        assert sample["metrics"]["perplexity"] >= 1
        assert len(sample["model_sha256"]) == 64
    assert "samples" not in chat and chat["metrics"] is None  # chat lanes draw one reply and have no probabilities


def test_branch_keeps_the_first_tokens_then_the_chosen_one(cli: Run, home: Path, sampled: dict[str, Any]) -> None:
    original = sampled["lanes"][0]["samples"][0]
    at = 2
    choice = next(alt["text"] for alt in original["tokens"][at]["top"] if alt["text"] != original["tokens"][at]["text"])
    result = cli(home, "branch", str(original["message_id"]), "--at", str(at), "--token", choice, "--json")
    assert result.returncode == 0, result.stderr
    branched = json.loads(result.stdout)
    assert [t["text"] for t in branched["tokens"][:at]] == [t["text"] for t in original["tokens"][:at]]
    assert branched["tokens"][at]["text"] == choice
    assert (branched["diverged_from_id"], branched["diverged_at"]) == (original["message_id"], at)

    export = json.loads(cli(home, "export", str(sampled["conversation_id"]), "--format", "json").stdout)
    saved = {m["id"]: m for m in export["messages"]}
    assert saved[branched["message_id"]]["diverged_from_id"] == original["message_id"]
    assert set(saved[original["message_id"]]["metrics"]) == METRICS
    assert saved[original["message_id"]]["seed"] == original["seed"]


def test_branch_refuses_a_position_outside_the_reply(cli: Run, home: Path, sampled: dict[str, Any]) -> None:
    original = sampled["lanes"][0]["samples"][0]
    result = cli(home, "branch", str(original["message_id"]), "--at", "999", "--token", "x")
    assert result.returncode == 2
    assert result.stderr.startswith("error:") and "999" in result.stderr and "Traceback" not in result.stderr
