# Turns belong to the server, not to the page: in Chromium against the real `simulacra ui`, a turn keeps going
# when its page is left, reloaded, closed or watched from a second tab, and only Stop ends it early (what the
# lanes wrote is kept, marked stopped). The database is read directly to see what the server saved.

from __future__ import annotations

import re
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from simulator.values import SamplingSettings
from ui.service.conversations.service import LaneSpec
from ui.service.settings import Settings
from ui.service.workspace import Workspace

if TYPE_CHECKING:
    from playwright.sync_api import Browser

pytestmark = [pytest.mark.browser, pytest.mark.model, pytest.mark.slow]

TITLE = "Dragons"
PROMPT = "Tell me a long story about a dragon and a lighthouse keeper."
LONG = SamplingSettings(temperature=1.0, max_tokens=200)


def seed_conversation(data_dir: Path) -> int:
    """A conversation with two lanes that write long replies (the raw document and the chat model)."""
    workspace = Workspace.open(Settings())
    try:
        specs = [LaneSpec(model="base", mask="raw", settings=LONG), LaneSpec(model="chat", settings=LONG)]
        return workspace.conversations.create(specs, title=TITLE)
    finally:
        workspace.engine.dispose()


def replies(data_dir: Path) -> list[tuple[str, str, str | None]]:
    """(status, content, error) of every reply saved so far."""
    with sqlite3.connect(f"file:{data_dir / 'simulacra.db'}?mode=ro", uri=True, timeout=5) as db:
        rows = db.execute("SELECT status, content, error FROM message WHERE role = 'model' ORDER BY id").fetchall()
    return [(str(status), str(content), error) for status, content, error in rows]


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def reply_texts(page: Any) -> list[str]:
    return page.evaluate(
        """() => [...document.querySelectorAll('[class*="st-key-reply-"]')].map(el =>
            [...el.querySelectorAll('[data-testid="stText"]')].map(t => t.innerText).join('').trim())"""
    )


def visible(text: str) -> str:
    return re.sub(r"[ \t]+\n", "\n", text)


def open_and_send(page: Any, url: str) -> None:
    page.goto(f"{url}/")
    page.get_by_role("button", name=TITLE).click()
    chat = page.get_by_placeholder("Message every lane")
    chat.wait_for(timeout=60_000)
    chat.fill(PROMPT)
    chat.press("Enter")


def test_a_turn_outlives_its_page_a_reload_and_a_closed_tab(
    browser: Browser, serve_simulacra: Callable[[], str], data_dir: Path
) -> None:
    seed_conversation(data_dir)
    url = serve_simulacra()
    page = browser.new_page(viewport={"width": 1300, "height": 900})
    open_and_send(page, url)
    wait_for(lambda: any(status == "incomplete" and text for status, text, _ in replies(data_dir)), 120, "streaming")

    # A second tab on the same conversation shows the same turn streaming.
    second = browser.new_page(viewport={"width": 1300, "height": 900})
    second.goto(page.url)  # the address names the conversation
    wait_for(lambda: any(reply_texts(second)), 60, "the second tab to show the stream")
    assert any(status == "incomplete" for status, _, _ in replies(data_dir)), "the turn ended too soon to test"

    # A reload re-attaches: the replies reappear while the turn is still running.
    page.reload()
    wait_for(lambda: any(reply_texts(page)), 60, "the reloaded page to show the stream")
    second.close()  # closing a tab mid-turn stops nothing

    page.get_by_role("link", name="Transcripts").click()  # leave the page mid-turn
    page.get_by_placeholder("words in replies, notes or titles").wait_for(timeout=30_000)
    wait_for(lambda: all(status == "complete" for status, _, _ in replies(data_dir)), 240, "the turn to finish")
    saved = replies(data_dir)
    assert len(saved) == 2 and all(text.strip() for _, text, _ in saved), saved

    page.get_by_role("link", name="Compare").click()
    wait_for(lambda: len(reply_texts(page)) == 2, 60, "Compare to show both replies")
    # A space alone on a line is not drawn, so the page's text is compared without spaces at line ends.
    assert sorted(map(visible, reply_texts(page))) == sorted(visible(text.strip()) for _, text, _ in saved)
    body = page.inner_text("body")
    assert "incomplete" not in body and "Traceback" not in body


def test_stop_ends_the_turn_and_keeps_what_was_written(
    browser: Browser, serve_simulacra: Callable[[], str], data_dir: Path
) -> None:
    seed_conversation(data_dir)
    url = serve_simulacra()
    page = browser.new_page(viewport={"width": 1300, "height": 900})
    open_and_send(page, url)
    wait_for(lambda: any(status == "incomplete" and text for status, text, _ in replies(data_dir)), 120, "streaming")

    page.get_by_role("button", name="Stop").click()

    wait_for(lambda: all(status != "incomplete" or error for status, _, error in replies(data_dir)), 30, "stopping")
    saved = replies(data_dir)
    stopped = [(status, text) for status, text, error in saved if error == "stopped"]
    assert stopped and all(status == "incomplete" for status, _ in stopped), saved
    assert any(text for _, text in stopped)  # what the lanes wrote before Stop is kept
    page.wait_for_function("() => document.body.innerText.includes('incomplete: stopped')", timeout=30_000)
    assert page.get_by_placeholder("Message every lane").is_enabled()
