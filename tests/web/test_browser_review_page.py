# Blind review in Chromium against the real `simulacra ui`: pairs from a three-lane conversation judged by keyboard
# (1-4, Enter saves, Enter again for the next pair). Before each vote the page names none of the pair's lanes,
# models or masks; after it, it does; the votes are saved with the left/right order shown. Two reviewers in two
# browser sessions each get every pair once.

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.support.review import THREE_LANES, save_conversation  # noqa: E402
from ui.service.workspace import open_database

if TYPE_CHECKING:
    from playwright.sync_api import Browser

pytestmark = [pytest.mark.browser]

IDENTITIES = {word for lane in THREE_LANES for word in lane if word}
PAIRS = 6  # two turns, three lanes: three pairs each


def main_text(page: Any) -> str:
    # Without the invisible word joiners the page puts into names (its guard against autolinked addresses).
    return str(page.locator('[data-testid="stMain"]').inner_text()).replace("\u2060", "")


def wait_for(page: Any, needle: str, timeout: float = 60) -> None:
    # Only once the rerun is drawn: until then the previous run's elements stay on the page, marked stale.
    page.wait_for_function(
        "needle => !document.querySelector('[data-stale=\"true\"]') &&"
        " (document.querySelector('[data-testid=\"stMain\"]') || {innerText: ''}).innerText"
        ".replaceAll('\\u2060', '').includes(needle)",
        arg=needle,
        timeout=timeout * 1000,
    )


def press_until(page: Any, key: str, needle: str) -> None:
    """Press `key` with the focus on the page, not in a field; again if a rerun still drawing the page missed it."""
    for attempt in range(3):
        page.locator('[data-testid="stMain"] h1').click()
        page.keyboard.press(key)
        try:
            wait_for(page, needle, timeout=20)
            return
        except Exception:
            if attempt == 2:
                raise


def open_as(browser: Browser, url: str, reviewer: str) -> Any:
    page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    page.goto(f"{url}/review")
    wait_for(page, "Reviewer")
    field = page.get_by_role("textbox", name="Reviewer")
    field.fill(reviewer)
    field.press("Tab")  # the field commits on blur; Enter would be the page's shortcut too
    return page


def vote_by_keyboard(page: Any, number: int, key: str) -> tuple[str, str, str]:
    """Judge the pair on screen; returns its pair id, the left text shown and the page's text after the vote."""
    wait_for(page, f"{number} of {PAIRS} pairs")
    before = main_text(page)
    assert not [word for word in IDENTITIES if word in before], before
    left = page.locator(".st-key-review-left").inner_text().strip()
    page.wait_for_selector(".st-key-review-choose-left button")
    press_until(page, key, "Your choice:")
    press_until(page, "Enter", "Saved:")
    after = main_text(page)
    pair = re.search(r"pair (\d+-\d+)", after)
    assert pair, after
    return pair.group(1), left, after


def test_blind_review_by_keyboard_in_two_browser_sessions(
    browser: Browser, serve_simulacra: Callable[[], str], data_dir: Path
) -> None:
    engine = open_database(f"sqlite:///{data_dir / 'simulacra.db'}")
    try:
        save_conversation(engine, prompts=("Who are you?", "What do you want?"))
    finally:
        engine.dispose()
    url = serve_simulacra()
    pairs: dict[str, list[str]] = {"Ada": [], "Bo": []}
    lefts: dict[str, str] = {}
    ada = open_as(browser, url, "Ada")
    for number in range(1, 6):
        pair, left, after = vote_by_keyboard(ada, number, "1")
        assert [lane[0] for lane in THREE_LANES if lane[0] in after], after  # now it says who wrote what
        pairs["Ada"].append(pair)
        lefts[pair] = left
        press_until(ada, "Enter", f"{number + 1} of {PAIRS} pairs")  # the next pair
    bo = open_as(browser, url, "Bo")
    for number in range(1, PAIRS + 1):
        pair, _, _ = vote_by_keyboard(bo, number, "3")
        pairs["Bo"].append(pair)
        press_until(bo, "Enter", f"{number + 1} of {PAIRS} pairs" if number < PAIRS else "Nothing left to review")
    pair, _, _ = vote_by_keyboard(ada, PAIRS, "2")
    pairs["Ada"].append(pair)
    press_until(ada, "Enter", "Nothing left to review")
    assert len(set(pairs["Ada"])) == len(set(pairs["Bo"])) == PAIRS and set(pairs["Ada"]) == set(pairs["Bo"])

    with sqlite3.connect(data_dir / "simulacra.db") as db:
        rows = db.execute(
            "SELECT j.pair, j.better, m.content FROM judgement j JOIN message m ON m.id = j.left_message_id"
            " WHERE j.reviewer = 'Ada' ORDER BY j.id"
        ).fetchall()
    assert [better for _, better, _ in rows] == ["left"] * 5 + ["right"]
    for pair, _, left_content in rows[:5]:
        assert left_content in lefts[pair]  # saved in the order it was shown
