"""Which exact model file wrote a reply: its sha256, so a replay can check it runs on the same weights.

Hashing the bundled 245 MB file takes about a second, so each digest is computed once per file and kept in
memory and in a small JSON file under the user's cache directory, keyed by path, size and mtime.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from pathlib import Path

_memory: dict[str, str] = {}
_lock = threading.Lock()


def cache_file() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "simulacra" / "model-sha256.json"


def file_sha256(path: Path) -> str:
    """The file's sha256 (hex), from the cache when the file has not changed since it was hashed."""
    key = _key(path)
    with _lock:  # one hash at a time: the warm-up thread and a lane may ask for the same file together
        digest = _memory.get(key) or _read_cache().get(key)
        if digest is None:
            with path.open("rb") as f:
                digest = hashlib.file_digest(f, "sha256").hexdigest()
            _write_cache(key, digest)
        _memory[key] = digest
        return digest


def remember_sha256(path: Path, digest: str) -> None:
    """Keep a digest checked as the file was written (the assembled bundled model), so it is not hashed again."""
    key = _key(path)
    with _lock:
        _memory[key] = digest
        _write_cache(key, digest)


def _key(path: Path) -> str:
    stat = path.stat()
    return f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}"


def _read_cache() -> dict[str, str]:
    try:
        data = json.loads(cache_file().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}


def _write_cache(key: str, digest: str) -> None:
    """Best effort: a read-only cache directory only means hashing again next time."""
    target = cache_file()
    entries = {k: v for k, v in _read_cache().items() if not k.startswith(key.rsplit("|", 2)[0] + "|")}
    entries[key] = digest
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        temporary = target.with_name(f"{target.name}.{os.getpid()}.tmp")
        temporary.write_text(json.dumps(entries, indent=1), encoding="utf-8")
        temporary.replace(target)
    except OSError:
        pass
