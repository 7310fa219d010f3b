# A contrast lane from the command line: `ask --lane base@MASK~OTHER:GAMMA` beside plain MASK, where γ = 0 writes
# plain MASK's reply token for token with the same seed; a bad γ, an unknown second mask or a model that gives no
# logits to mix is one error line, and nothing is saved.

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.cli_runs import counts, refused

Run = Callable[..., subprocess.CompletedProcess[str]]

pytestmark = pytest.mark.model


def test_gamma_zero_beside_its_plain_mask_writes_the_same_reply(cli: Run, tmp_path: Path) -> None:
    result = cli(
        tmp_path,
        "ask",
        "What is the capital of France?",
        *("--lane", "base@assistant", "--lane", "base@assistant~quiz:0", "--lane", "base@assistant~quiz:3"),
        *("--seed", "5", "--temperature", "1", "--max-tokens", "16", "--json"),
    )

    assert result.returncode == 0, result.stderr
    plain, zero, contrasted = json.loads(result.stdout)["lanes"]
    assert (plain["contrast"], zero["contrast"]) == (None, {"mask": "quiz", "gamma": 0.0})
    assert zero["label"] == "base@assistant − quiz (γ 0)"
    assert zero["tokens"] == plain["tokens"] and zero["text"] == plain["text"]
    assert contrasted["contrast"] == {"mask": "quiz", "gamma": 3.0} and contrasted["text"] != plain["text"]


@pytest.mark.parametrize(
    ("lane", "words"),
    [
        ("base@assistant~quiz:strong", "γ (the contrast's weight, after ':') must be a number from 0 to 10"),
        ("base@assistant~quiz:11", "must be a number from 0 to 10, not '11'"),
        ("base@assistant~quiz:-1", "must be a number from 0 to 10, not '-1'"),
        ("base@assistant~nosuch", "unknown mask 'nosuch'"),
        ("chat@assistant~quiz", "only an in-process base model gives, and chat is a chat model"),
        ("base@assistant~Quiz", "cannot read lane"),
    ],
)
def test_a_bad_contrast_lane_is_one_error_line_and_saves_nothing(
    cli: Run, tmp_path: Path, lane: str, words: str
) -> None:
    result = cli(tmp_path, "ask", "Hello?", "--lane", "base@raw", "--lane", lane)

    assert words in refused(result)
    assert counts(tmp_path) == (0,) * len(counts(tmp_path))
