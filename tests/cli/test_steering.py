# Steered lanes from the command line: `ask --lane base@MASK^DIRECTION:ALPHA` (or `--steer` over the --lanes given)
# beside the plain MASK, where α = 0 writes the plain reply token for token with the same seed and a strong α
# another; each bad steering (layers out of range, a chat lane, an unknown direction, an unreadable α) is one error
# line, and nothing is saved.

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from simulator.registry import Registry
from storage.db import make_engine
from tests.support.cli_runs import counts, refused
from tests.support.directions import save_direction, seed_directions
from ui.service.vectors.service import Vectors

Run = Callable[..., subprocess.CompletedProcess[str]]


@pytest.mark.model
def test_alpha_zero_beside_the_plain_mask_writes_the_same_reply(cli: Run, tmp_path: Path, registry: Registry) -> None:
    seed_directions(tmp_path, registry)
    result = cli(
        tmp_path,
        "ask",
        "Who are you?",
        *("--lane", "base@assistant", "--lane", "base@assistant^assistant-axis:0"),
        *("--lane", "base@assistant^assistant-axis:-40:3-9"),
        *("--seed", "7", "--temperature", "1", "--max-tokens", "16", "--json"),
    )

    assert result.returncode == 0, result.stderr
    plain, zero, steered = json.loads(result.stdout)["lanes"]
    assert plain["steering"] is None
    assert zero["label"] == "base@assistant ^ assistant-axis α 0 (L6)"
    assert {k: zero["steering"][k] for k in ("direction", "alpha", "first_layer", "last_layer")} == {
        "direction": "assistant-axis", "alpha": 0.0, "first_layer": 6, "last_layer": 6
    }  # fmt: skip
    assert zero["tokens"] == plain["tokens"] and zero["text"] == plain["text"] and plain["text"].strip()
    assert steered["label"] == "base@assistant ^ assistant-axis α −40 (L3–9)" and steered["text"] != plain["text"]
    # A token tree is grown unsteered: on a steered reply or lane it is refused rather than drawn wrong.
    tree = cli(tmp_path, "tree", str(steered["message_id"]), "--at", "1")
    assert "was steered (assistant-axis α −40 (L3–9)): token trees are grown unsteered" in refused(tree)
    lane_tree = cli(tmp_path, "tree", "--lane", "base@assistant^assistant-axis:2", "Hi")
    assert "token trees are grown unsteered" in refused(lane_tree)


@pytest.mark.model
def test_steer_applies_to_every_lane_given(cli: Run, tmp_path: Path, registry: Registry) -> None:
    seed_directions(tmp_path, registry)
    result = cli(tmp_path, "ask", "Hi", "--lane", "base@assistant", "--lane", "base@raw", "--steer", "other:2:4-5",
                 "--max-tokens", "2", "--json")  # fmt: skip

    assert result.returncode == 0, result.stderr
    labels = [lane["label"] for lane in json.loads(result.stdout)["lanes"]]
    assert labels == ["base@assistant ^ other α 2 (L4–5)", "base@raw ^ other α 2 (L4–5)"]


def test_a_server_lane_is_told_the_server_route(cli: Run, tmp_path: Path, registry: Registry, closed_port: int) -> None:
    seed_directions(tmp_path, registry)
    (tmp_path / "simulacra.toml").write_text(
        '[[models]]\nname = "remote-gemma"\nkind = "simulator"\napi = "llama-server"\n'
        f'api_base = "http://127.0.0.1:{closed_port}"\n'
    )

    result = cli(tmp_path, "ask", "Hello?", "--lane", "remote-gemma@assistant^assistant-axis:-4:6-8")

    line = refused(result)
    assert line.startswith("error: remote-gemma runs on a server, which cannot be steered per request")
    assert "simulacra vectors export NAME --out FILE.gguf" in line and counts(tmp_path) == (0, 0, 0, 0)


@pytest.mark.parametrize(
    ("lanes", "words"),
    [
        (["--lane", "base@assistant", "--steer", "assistant-axis:1:0-20"],
         "layers 0-20 are out of range: base can be steered on layers 1 to 17"),
        (["--lane", "base@assistant^assistant-axis:1:18"], "layer 18 is out of range"),
        (["--lane", "base@assistant", "--lane", "chat", "--steer", "assistant-axis:1"],
         "chat is a chat model: steering adds a direction to an in-process base model's activations"),
        (["--lane", "base@assistant", "--steer", "nope:1"],
         "there is no direction named 'nope': the directions are assistant-axis, elsewhere, other"),
        (["--lane", "base@assistant^elsewhere:1"], "elsewhere: this direction was computed on another model"),
        (["--lane", "base@assistant", "--steer", "assistant-axis"], "cannot read the steering 'assistant-axis'"),
        (["--lane", "base@assistant^assistant-axis"], "names a direction but no α"),
        (["--lane", "base@assistant", "--steer", "assistant-axis:strong"], "α (the steering's strength"),
        (["--steer", "assistant-axis:1"], "--steer steers the lanes given with --lane"),
        (["--lane", "base@assistant~raw", "--steer", "assistant-axis:1"], "is already contrasted"),
    ],
)  # fmt: skip
def test_a_bad_steering_is_one_error_line_and_saves_nothing(
    cli: Run, tmp_path: Path, registry: Registry, lanes: list[str], words: str
) -> None:
    seed_directions(tmp_path, registry)
    engine = make_engine(f"sqlite:///{tmp_path / 'data' / 'simulacra.db'}")
    save_direction(Vectors(engine, registry), registry, "elsewhere", model_sha256="f" * 64)
    engine.dispose()
    before = counts(tmp_path)

    result = cli(tmp_path, "ask", "Hello?", *lanes)

    assert words in refused(result)
    assert counts(tmp_path) == before
