# A rehearsal of `docker compose --profile llama up` without a Docker engine: the `app` service's own command, run
# natively with the compose file's own environment, against a new database on the local PostgreSQL and
# `python -m llama_cpp.server` (serving the bundled gemma base model) standing in for the `llama` service. Headless
# Chromium signs in with the password and sends one message to a lane on the `llama` model, as a team member would;
# the reply must be saved in PostgreSQL with a probability on every token.

from __future__ import annotations

import json
import os
import re
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from sqlmodel import Session

from storage import repo
from storage.db import make_engine
from tests.support.browser import CHROMIUM_ARGS, chromium_path, wait_for_replies
from tests.support.compose import SERVICES, interpolate
from tests.support.postgres import postgres_database
from tests.support.processes import free_port, streamlit_server
from tests.support.servers import base_server

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

pytestmark = [pytest.mark.browser, pytest.mark.model, pytest.mark.slow]

PASSWORD = "rehearsal-walrus-7"  # stands in for .env's SIMULACRA_PASSWORD
QUESTION = "What is the capital of France?"
MAX_TOKENS = 16


def compose_environment(database_url: str, llama_api_base: str, data_dir: Path) -> dict[str, str]:
    """The `app` service's environment from docker-compose.yml as compose hands it over with .env's database URL
    and password, with what only a real deployment has replaced: the `llama` service's address, and the image's
    data folder (the Dockerfile's SIMULACRA_DATA_DIR=/data, a volume there)."""
    dotenv = {"SIMULACRA_DATABASE_URL": database_url, "SIMULACRA_PASSWORD": PASSWORD}
    environment = {name: interpolate(str(value), dotenv) for name, value in SERVICES["app"]["environment"].items()}
    assert {"SIMULACRA_DATABASE_URL", "SIMULACRA_PASSWORD", "SIMULACRA_MODELS"} <= set(environment)
    models = json.loads(environment["SIMULACRA_MODELS"])
    [llama] = [model for model in models if model["name"] == "llama"]
    assert (llama["api"], llama["api_base"]) == ("llama-server", "http://llama:8080")
    # The stand-in is llama-cpp-python's server, not llama.cpp's own: it speaks the OpenAI text-completion API
    # under /v1 rather than llama-server's native /completion, so the lane's `api` and `api_base` change with it.
    # Everything else (the name `llama`, kind simulator, the other variables) is the compose file's.
    llama.update(api="openai-completions", api_base=llama_api_base)
    environment["SIMULACRA_MODELS"] = json.dumps(models)
    assert not [value for value in environment.values() if "${" in value], environment  # nothing left unset
    return {"SIMULACRA_DATA_DIR": str(data_dir), **environment}


@pytest.fixture
def app_environment(monkeypatch: pytest.MonkeyPatch) -> Callable[[dict[str, str]], None]:
    """Set the app's environment for the processes this test starts: the compose file's SIMULACRA_* variables
    and none of the developer's (nor the checkout's simulacra.toml or .env: the app runs in tmp_path)."""
    for name in [name for name in os.environ if name.startswith("SIMULACRA_")]:
        monkeypatch.delenv(name)
    # As the image puts its virtualenv first on PATH (the Dockerfile's ENV PATH=/opt/venv/bin:$PATH), so that the
    # command's bare `simulacra` is the one installed with this Python.
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")

    def apply(environment: dict[str, str]) -> None:
        for name, value in environment.items():
            monkeypatch.setenv(name, value)

    return apply


def app_command(port: int) -> list[str]:
    """The `app` service's command, on a free port (the container's 8501 may be taken here)."""
    command = [str(arg) for arg in SERVICES["app"]["command"]]
    assert command[:2] == ["simulacra", "ui"] and "--port" in command
    command[command.index("--port") + 1] = str(port)
    return command


@pytest.fixture
def database_url() -> Iterator[str]:
    """A new database on the local PostgreSQL (skipped without one, failed where CI=true), dropped afterwards."""
    with postgres_database() as url:
        yield url


@pytest.fixture
def llama_stand_in(tmp_path: Path) -> Iterator[str]:
    """`python -m llama_cpp.server` with the bundled gemma base model on 127.0.0.1; its base URL (`.../v1`)."""
    with base_server(tmp_path / "llama.log") as (_, base):
        yield base


@pytest.fixture
def browser() -> Iterator[Browser]:
    from playwright.sync_api import sync_playwright

    executable = chromium_path()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def choose(page: Page, label: str, option: str) -> None:
    """Pick `option` in the open lane popover's select box `label`."""
    page.get_by_role("combobox", name=label, exact=True).locator("visible=true").click()
    page.get_by_role("option", name=option, exact=True).click()


def one_llama_lane(page: Page) -> None:
    """Through the lane popovers, as a person would: the first lane on `llama` with the assistant mask and short
    replies, and the other default lanes (in-process models) removed."""
    page.get_by_role("button", name="Settings").first.click()
    choose(page, "Model", "llama")
    choose(page, "Mask", "assistant")
    field = page.get_by_label("Max tokens").locator("visible=true")
    field.fill(str(MAX_TOKENS))
    field.press("Enter")
    page.keyboard.press("Escape")
    page.get_by_text(f"{MAX_TOKENS} tokens").first.wait_for(timeout=30_000)
    while page.get_by_role("button", name="Settings").count() > 1:
        popovers = page.locator('[data-testid="stPopover"]').count()  # each lane's, and Compare's own (Directions)
        page.get_by_role("button", name="Settings").nth(1).click()
        page.get_by_role("button", name="Remove lane").locator("visible=true").click()
        page.keyboard.press("Escape")
        page.wait_for_function(
            f"() => document.querySelectorAll('[data-testid=\"stPopover\"]').length < {popovers}", timeout=30_000
        )
    page.get_by_text("llama@assistant").first.wait_for(timeout=30_000)


def send_one_turn(page: Page, url: str) -> list[dict[str, Any]]:
    """Sign in, set up the lane, send QUESTION and wait for the reply to end; returns the reply cells."""
    page.goto(f"{url}/")
    field = page.locator("input[type=password]")
    field.wait_for(timeout=60_000)
    field.fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    chat = page.get_by_placeholder("Message every lane")
    chat.wait_for(timeout=60_000)
    one_llama_lane(page)
    chat.fill(QUESTION)
    chat.press("Enter")
    # The reply streams at about a token a second (llama_cpp.server's own logprobs), and its mask effect needs an
    # echo of the whole document, about a second a token again, before the lane is done.
    return wait_for_replies(page, 600)


def show_first_token(page: Page) -> str:
    """Open the finished reply's token view and pick its first token; returns what the view says about it."""
    page.get_by_text("Tokens", exact=True).click(timeout=60_000)
    number = page.get_by_role("spinbutton", name="Token #")
    number.fill("0")
    number.press("Enter")
    details = page.get_by_text(re.compile(r"^Token #0 .* p [01]\.\d{3}$"))
    details.wait_for(timeout=30_000)
    page.get_by_text("alternatives hold").wait_for(timeout=30_000)
    return details.inner_text()


def saved_turns(database_url: str) -> list[tuple[str, list[Any]]]:
    """Every saved conversation's lanes and replies, read back from PostgreSQL through storage.repo."""
    engine = make_engine(database_url)
    try:
        with Session(engine) as session:
            found = []
            for summary in repo.list_conversations(session=session):
                lanes = repo.list_lanes(session=session, conversation_id=summary.id)
                messages = repo.list_messages(session=session, conversation_id=summary.id)
                found.append((summary.title, [(lane.model, lane.mask_name) for lane in lanes], messages))
            return found
    finally:
        engine.dispose()


def test_the_app_service_answers_a_turn_on_the_llama_service(
    database_url: str,
    llama_stand_in: str,
    browser: Browser,
    app_environment: Callable[[dict[str, str]], None],
    tmp_path: Path,
) -> None:
    app_environment(compose_environment(database_url, llama_stand_in, tmp_path / "data"))
    port = free_port()
    started = time.monotonic()
    with streamlit_server(app_command(port), port, cwd=tmp_path, log=tmp_path / "app.log", timeout=90) as url:
        healthy = time.monotonic()
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        lanes = send_one_turn(page, url)
        answered = time.monotonic()
        first_token = show_first_token(page)
        page.screenshot(path=str(tmp_path / "rehearsal.png"), full_page=True)
        body = page.inner_text("body")
        exceptions = page.locator('[data-testid="stException"]').count()
    saved = saved_turns(database_url)
    print(f"rehearsal: healthy after {healthy - started:.1f} s, turn answered {answered - healthy:.1f} s later")

    assert exceptions == 0 and "Traceback" not in body, body
    assert len(lanes) == 1 and lanes[0]["done"] and lanes[0]["text"], (lanes, body)
    [(title, lane_setup, messages)] = saved
    assert title == QUESTION and lane_setup == [("llama", "assistant")]
    user, reply = messages
    assert (user.role, user.content) == ("user", QUESTION)
    assert (reply.role, reply.status, reply.error) == ("model", "complete", None), reply.error
    assert reply.content.strip() and " ".join(reply.content.split()) in " ".join(lanes[0]["text"].split())
    assert reply.tokens and len(reply.tokens) <= MAX_TOKENS
    for text, p, top, *_ in reply.tokens:  # [text, p, [[alternative, p], ...], (entropy)] as simulator/ writes them
        assert isinstance(text, str) and 0 < p <= 1 and top, reply.tokens
    assert "".join(token[0] for token in reply.tokens).strip() == reply.content.strip()
    assert first_token.endswith(f"p {reply.tokens[0][1]:.3f}"), first_token  # the page shows what was saved
    assert PASSWORD not in (tmp_path / "app.log").read_text(errors="replace")
    waited = (reply.created_at - user.created_at).total_seconds()
    print(
        f"rehearsal: the reply began {waited:.1f} s after the message, first token {reply.ttft_ms:.0f} ms, "
        f"{len(reply.tokens)} tokens in {reply.total_ms:.0f} ms"
    )
