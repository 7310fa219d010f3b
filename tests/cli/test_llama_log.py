# llama.cpp logs every model load and context it makes ("n_ctx_seq > n_ctx_train", "using full-size SWA
# cache", ...) straight to stderr. `ask` keeps those lines off the terminal; `simulacra --verbose` shows them,
# through Python logging, each one whole and named by its logger.

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

Run = Callable[..., subprocess.CompletedProcess[str]]
LLAMA_CPP = re.compile(r"llama|n_ctx|SWA|ggml|gguf|kv_cache", re.IGNORECASE)
# Both kinds of local lane: a base lane opens contexts itself, the chat lane through llama-cpp-python's `Llama`.
ASK = ["ask", "Hello?", "--lane", "base@raw", "--lane", "chat", "--max-tokens", "2", "--temperature", "0"]


@pytest.mark.model
@pytest.mark.slow
def test_ask_prints_no_llama_cpp_lines_unless_verbose(cli_process: Run, tmp_path: Path) -> None:
    # A process: llama.cpp writes to file descriptor 2 itself, which only a real process's stderr shows.
    quiet = cli_process(tmp_path, *ASK)
    verbose = cli_process(tmp_path, "--verbose", *ASK)

    assert quiet.returncode == 0, quiet.stderr
    assert [line for line in quiet.stderr.splitlines() if LLAMA_CPP.search(line)] == []
    assert verbose.returncode == 0, verbose.stderr
    shown = [line for line in verbose.stderr.splitlines() if LLAMA_CPP.search(line)]
    assert any("n_ctx" in line for line in shown) and any("SWA" in line for line in shown), verbose.stderr
    assert all(line.startswith("simulacra.llama: ") for line in shown), verbose.stderr
