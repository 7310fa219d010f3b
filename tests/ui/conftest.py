# Each UI test gets a fresh SQLite file and no settings from the checkout, so tests never see each
# other's conversations or a developer's .env keys.

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

APP = Path(__file__).resolve().parents[2] / "ui" / "app.py"


@pytest.fixture(autouse=True)
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    data = tmp_path / "data"
    monkeypatch.setenv("SIMULACRA_DATA_DIR", str(data))
    for name in ("SIMULACRA_DATABASE_URL", "SIMULACRA_MASKS_DIR", "SIMULACRA_DEFAULT_LANES", "SIMULACRA_MODELS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SIMULACRA_CONFIG", str(tmp_path / "simulacra.toml"))
    # One thread: other test runs share the two cores, and spinning llama.cpp threads would starve.
    monkeypatch.setenv("SIMULACRA_THREADS", "1")
    monkeypatch.chdir(tmp_path)  # no .env from the checkout
    return data


@pytest.fixture
def app(data_dir: Path) -> AppTest:
    """The whole app, not yet run; its first page is Compare."""
    return AppTest.from_file(str(APP), default_timeout=60)
