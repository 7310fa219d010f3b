# Each UI test gets a fresh SQLite file and no settings from the checkout, so tests never see each
# other's conversations or a developer's .env keys. The browser tests also get the real `simulacra ui`
# serving that data folder on 127.0.0.1, and Debian's Chromium driven through Playwright.

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from streamlit.testing.v1 import AppTest

from tests.support.browser import CHROMIUM_ARGS, chromium_path
from tests.support.processes import free_port, streamlit_server
from tests.support.transcripts import engine, media, seed  # noqa: F401 - fixtures: the app's database, Seed on it, downloads

if TYPE_CHECKING:
    from playwright.sync_api import Browser

APP = Path(__file__).resolve().parents[2] / "ui" / "web" / "app.py"


@pytest.fixture(autouse=True)
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    data = tmp_path / "data"
    monkeypatch.setenv("SIMULACRA_DATA_DIR", str(data))
    # A developer's password or reviewer name would stop every page at the sign-in form or sign annotations.
    unset = ("DATABASE_URL", "MASKS_DIR", "DEFAULT_LANES", "MODELS", "PASSWORD", "REVIEWER")
    for name in unset:
        monkeypatch.delenv(f"SIMULACRA_{name}", raising=False)
    monkeypatch.setenv("SIMULACRA_CONFIG", str(tmp_path / "simulacra.toml"))
    # One thread: other test runs share the two cores, and spinning llama.cpp threads would starve.
    monkeypatch.setenv("SIMULACRA_THREADS", "1")
    monkeypatch.chdir(tmp_path)  # no .env from the checkout
    return data


@pytest.fixture
def app(data_dir: Path) -> AppTest:
    """The whole app, not yet run; its first page is Compare."""
    return AppTest.from_file(str(APP), default_timeout=60)


@pytest.fixture
def serve_simulacra(tmp_path: Path, data_dir: Path) -> Iterator[Callable[[], str]]:
    """Start the real `simulacra ui` when called (so a test can seed the data folder first) and return its base
    URL, `http://127.0.0.1:PORT`, once it answers; it runs in tmp_path, on `data_dir`, with its output in
    tmp_path/server.log, and is stopped when the test ends."""
    servers = ExitStack()

    def serve() -> str:
        port = free_port()
        command = [str(Path(sys.executable).with_name("simulacra")), "ui", "--port", str(port)]
        return servers.enter_context(streamlit_server(command, port, cwd=tmp_path, log=tmp_path / "server.log"))

    with servers:
        yield serve


@pytest.fixture
def simulacra_url(serve_simulacra: Callable[[], str]) -> str:
    """The base URL of the real `simulacra ui` on a fresh data folder, started before the test."""
    return serve_simulacra()


@pytest.fixture
def browser() -> Iterator[Browser]:
    """Headless Chromium launched through Playwright (skipped without Chromium, failed where CI=true)."""
    from playwright.sync_api import sync_playwright

    executable = chromium_path()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield browser
        browser.close()
