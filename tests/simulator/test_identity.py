# Which model file wrote a reply: its sha256, hashed once per file and kept in a small cache file, and hashed
# again when the file changes.

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from simulator.errors import ModelUnavailable
from simulator.identity import cache_file, file_sha256
from simulator.registry import Registry


def test_a_files_digest_is_cached_until_the_file_changes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    model = tmp_path / "model.gguf"
    model.write_bytes(b"weights, version one")

    first = file_sha256(model)

    assert first == hashlib.sha256(b"weights, version one").hexdigest()
    assert list(json.loads(cache_file().read_text()).values()) == [first]
    model.write_bytes(b"weights, version two!")
    os.utime(model, ns=(1, 2))
    second = file_sha256(model)
    assert second == hashlib.sha256(b"weights, version two!").hexdigest()
    assert list(json.loads(cache_file().read_text()).values()) == [second], "the stale entry is replaced"


def test_a_cached_digest_is_read_back_without_hashing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    model = tmp_path / "model.gguf"
    model.write_bytes(b"some weights")
    file_sha256(model)
    entries = json.loads(cache_file().read_text())
    # A digest no file has: if it comes back, it came from the cache file, not from hashing.
    cache_file().write_text(json.dumps(dict.fromkeys(entries, "from-the-cache")))
    monkeypatch.setattr("simulator.identity._memory", {})

    assert file_sha256(model) == "from-the-cache"


@pytest.mark.model
def test_the_registry_names_the_file_of_a_local_model_only(registry: Registry) -> None:
    base = registry.resolve("base")
    assert base.path is not None
    with base.path().open("rb") as f:
        assert registry.model_sha256("base") == hashlib.file_digest(f, "sha256").hexdigest()
    with pytest.raises(ModelUnavailable, match="no local model file"):
        registry.model_sha256("openai/gpt-4o-mini")
