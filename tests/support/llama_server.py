"""llama.cpp's own `llama-server`, which loads control vectors (`--control-vector-scaled`) where llama-cpp-python's
server has no such option: built from exactly the llama.cpp that the locked llama-cpp-python sdist vendors, with
the CMake flags pyproject.toml builds llama-cpp-python with (no AMX), so a vector on it decodes like the same vector
in-process. `make llama-server` runs this module once (about 10 minutes on two cores, too long for every test run);
tests/simulator/test_cvec_server.py runs where the binary is. The sdist comes from PyPI, checked against the
lock's sha256: nothing is fetched from anywhere else."""

from __future__ import annotations

import hashlib
import os
import shlex
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import tomllib
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = "llama-cpp-python"
# Beyond pyproject's flags: only the server, static, and no web UI (its prebuilt assets would be downloaded).
SERVER_FLAGS = [
    "-DCMAKE_BUILD_TYPE=Release",
    "-DBUILD_SHARED_LIBS=OFF",
    "-DLLAMA_BUILD_UI=OFF",
    "-DLLAMA_USE_PREBUILT_UI=OFF",
    "-DLLAMA_OPENSSL=OFF",
    "-DLLAMA_BUILD_TESTS=OFF",
    "-DLLAMA_BUILD_EXAMPLES=OFF",
]


def locked_sdist() -> tuple[str, str, str]:
    """(version, url, sha256) of the llama-cpp-python sdist uv.lock pins."""
    lock = tomllib.loads((ROOT / "uv.lock").read_text(encoding="utf-8"))
    (package,) = [p for p in lock["package"] if p["name"] == PACKAGE]
    sdist = package["sdist"]
    return package["version"], sdist["url"], sdist["hash"].removeprefix("sha256:")


def binary() -> Path:
    """Where `make llama-server` puts the binary for the locked version (it may not be there)."""
    version, _, _ = locked_sdist()
    return ROOT / ".tools" / f"llama-server-{version}" / "llama-server"


def cmake_flags() -> list[str]:
    """pyproject.toml's CMAKE_ARGS for llama-cpp-python, then the server's own."""
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    variables = pyproject["tool"]["uv"]["extra-build-variables"][PACKAGE]
    return [*shlex.split(variables["CMAKE_ARGS"]), *SERVER_FLAGS]


def build() -> Path:
    """Download the locked sdist, check its sha256, and build `llama-server` from its vendor/llama.cpp."""
    version, url, sha256 = locked_sdist()
    target = binary()
    with tempfile.TemporaryDirectory(prefix="llama-server-") as work:
        archive = Path(work) / url.rsplit("/", 1)[1]
        print(f"downloading {archive.name}", flush=True)
        with urllib.request.urlopen(url, timeout=300) as response, archive.open("wb") as out:
            shutil.copyfileobj(response, out)
        digest = hashlib.sha256(archive.read_bytes()).hexdigest()
        if digest != sha256:
            sys.exit(f"error: {archive.name} has sha256 {digest}, but uv.lock pins {sha256}")
        source = _vendored_llama_cpp(archive, Path(work) / "src")
        started = time.monotonic()
        subprocess.run(["cmake", "-S", source, "-B", f"{work}/build", *cmake_flags()], check=True)
        jobs = os.environ.get("CMAKE_BUILD_PARALLEL_LEVEL", "2")
        subprocess.run(["cmake", "--build", f"{work}/build", "--target", "llama-server", "-j", jobs], check=True)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(Path(work) / "build" / "bin" / "llama-server", target.with_suffix(".part"))
        os.replace(target.with_suffix(".part"), target)
    print(f"built {target.relative_to(ROOT)} (llama.cpp of {PACKAGE} {version}) in {time.monotonic() - started:.0f} s")
    return target


def _vendored_llama_cpp(archive: Path, into: Path) -> Path:
    with tarfile.open(archive) as tar:
        members = [m for m in tar.getmembers() if "/vendor/llama.cpp/" in f"{m.name}/"]
        tar.extractall(into, members=members, filter="data")
    (source,) = into.glob("*/vendor/llama.cpp")
    return source


if __name__ == "__main__":
    build()
