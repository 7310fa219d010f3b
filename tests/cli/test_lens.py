# `simulacra lens` as a user runs it: every layer's top tokens at a picked token of a saved base reply, the last
# layer agreeing with what the model wrote; one clear error line for a token outside the reply and a chat reply.

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

Run = Callable[..., subprocess.CompletedProcess[str]]


@pytest.mark.model
def test_the_lens_at_a_reply_token_and_its_bad_inputs(cli: Run, tmp_path: Path) -> None:
    asked = cli(tmp_path, "ask", "What is the capital of France?", "--lane", "base@assistant", "--lane", "chat",
                "--json", "--max-tokens", "4", "--temperature", "0")  # fmt: skip
    assert asked.returncode == 0, asked.stderr
    base, chat = json.loads(asked.stdout)["lanes"]

    shown = cli(tmp_path, "lens", str(base["message_id"]), "--token", "1", "--json")

    assert shown.returncode == 0, shown.stderr
    lens = json.loads(shown.stdout)
    assert [layer["layer"] for layer in lens["layers"]] == list(range(18))
    last = lens["layers"][-1]
    assert last["actual_rank"] == 1 and last["top"][0][0] == lens["actual"]  # greedy: the model's likeliest
    assert [layer["unreliable"] for layer in lens["layers"]][:7] == [True] * 6 + [False]

    text = cli(tmp_path, "lens", str(base["message_id"]), "--token", "0")
    assert (
        text.returncode == 0 and "layer 17: rank      1" in text.stdout and "(early layer: unreliable)" in text.stdout
    )

    outside = cli(tmp_path, "lens", str(base["message_id"]), "--token", "99")
    assert outside.returncode != 0
    lines = outside.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: token 99 is out of range: reply {base['message_id']} has ")
    on_chat = cli(tmp_path, "lens", str(chat["message_id"]), "--token", "0")
    assert on_chat.returncode != 0 and "chat-model reply" in on_chat.stderr
    assert "Traceback" not in on_chat.stderr + outside.stderr
