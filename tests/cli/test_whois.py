# `simulacra whois`: a saved reply scored under several masks on the bundled base model. The totals are the sums of
# the per-token log-probabilities, and each document is the exact text the model read: under the lane's own mask,
# the scored tokens are the ones the lane sampled, with the probabilities it sampled them with.

from __future__ import annotations

import json
import math
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from personas.catalog import load_mask
from personas.mask import HistoryTurn

pytestmark = [pytest.mark.model, pytest.mark.slow]

Run = Callable[..., subprocess.CompletedProcess[str]]
QUESTION = "What is the capital of France?"
MASKS = ("assistant", "raw", "rogue-ai")


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("whois")


@pytest.fixture(scope="module")
def asked(cli: Run, home: Path) -> dict[str, Any]:
    args = ("ask", QUESTION, "--lane", "base@assistant", "--lane", "chat", "--max-tokens", "16", "--temperature", "0")
    result = cli(home, *args, "--json")
    assert result.returncode == 0, result.stderr
    lanes: dict[str, Any] = {lane["label"]: lane for lane in json.loads(result.stdout)["lanes"]}
    return lanes


def whois_json(cli: Run, home: Path, *args: str) -> dict[str, Any]:
    result = cli(home, "whois", *args, "--json")
    assert result.returncode == 0, result.stderr
    output: dict[str, Any] = json.loads(result.stdout)
    return output


def test_totals_are_the_sums_and_documents_are_what_the_model_read(cli: Run, home: Path, asked: dict[str, Any]) -> None:
    base = asked["base@assistant"]
    masks = [a for m in MASKS for a in ("--mask", m)]
    result = whois_json(cli, home, str(base["message_id"]), *masks)

    assert result["worn"] == "assistant" and result["text"] == base["text"].strip()
    readings = {r["mask"]: r for r in result["masks"]}
    assert set(readings) == set(MASKS)
    for name, reading in readings.items():
        assert reading["logprob"] == sum(t["logprob"] for t in reading["tokens"])
        assert "".join(t["text"] for t in reading["tokens"]) == reading["text"]
        assert reading["text"].endswith(result["text"])
        history = [HistoryTurn(role="user", text=QUESTION)]
        assert reading["document"] == load_mask(name).render(history)
    # The lane's own mask reads what the lane read: its sampled tokens, each with the probability it was sampled
    # with (a batched read rounds a little differently from one token a step: see simulator.metrics).
    own = readings["assistant"]
    assert own["document"] + own["text"] == own["document"] + base["text"]
    assert [t["text"] for t in own["tokens"]] == [t["text"] for t in base["tokens"]]
    for scored, sampled in zip(own["tokens"], base["tokens"], strict=True):
        assert abs(math.exp(scored["logprob"]) - sampled["p"]) < 0.02, (scored, sampled)

    posteriors = [r["posterior"] for r in result["masks"]]
    assert math.isclose(sum(posteriors), 1.0) and posteriors == sorted(posteriors, reverse=True)
    assert result["masks"][0]["mask"] == "assistant"  # the mask that wrote it is the likeliest speaker
    first, second = result["masks"][0], result["masks"][1]
    assert "".join(cell["text"] for cell in result["heat"]) == result["text"]
    assert math.isclose(sum(c["llr"] for c in result["heat"]), first["logprob"] - second["logprob"], abs_tol=1e-9)


def test_a_chat_reply_is_scored_under_the_masks_asked_for(cli: Run, home: Path, asked: dict[str, Any]) -> None:
    message = str(asked["chat"]["message_id"])
    result = cli(home, "whois", message, "--mask", "assistant", "--mask", "raw")

    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert (
        lines[1]
        == f"note: message {message} is a chat model's reply (its lane wore no mask): its text is scored by base"
    )
    assert {line.split()[1] for line in lines[2:4]} == {"assistant", "raw"}


def test_pasted_text_with_a_prior(cli: Run, home: Path) -> None:
    stdin = b"Arr, I be a pirate of the seven seas!"
    result = cli(
        home, "whois", "--text", "-", "--mask", "assistant", "--mask", "raw", "--prior", "raw=3", "--json", stdin=stdin
    )

    assert result.returncode == 0, result.stderr
    output = json.loads(result.stdout)
    assert output["text"] == stdin.decode() and output["message_id"] is None
    assert {r["mask"]: r["prior"] for r in output["masks"]} == {"raw": 0.75, "assistant": 0.25}


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (("3", "--mask", "nosuch"), "error: unknown mask 'nosuch'; available: assistant,"),
        (("1", "--mask", "raw"), "error: message 1 is not a saved reply"),
        (("3",), "error: name at least one mask to score the text under"),
        (("--mask", "raw"), "error: give a MESSAGE_ID or --text (one of them)"),
        (("3", "--mask", "raw", "--model", "chat"), "error: chat is a chat model: it gives no probabilities"),
        (("3", "--mask", "raw", "--prior", "raw=-1"), "error: the prior weight of 'raw' must be a positive number"),
    ],
)
def test_bad_input_is_one_error_line(
    cli: Run, home: Path, asked: dict[str, Any], args: tuple[str, ...], error: str
) -> None:
    result = cli(home, "whois", *args)

    assert result.returncode == 2 and result.stdout == ""
    assert len(result.stderr.splitlines()) == 1 and result.stderr.startswith(error), result.stderr
