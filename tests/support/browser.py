"""Headless Chromium for the browser tests: how Debian's Chromium is started, and reading a page's replies."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path
from typing import Any

import pytest

# How the browser tests start Debian's Chromium: headless, in a container, with nothing talking to Google.
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_path() -> str:
    """Chromium's executable; without one the test is skipped, or fails where CI=true (CI must not skip)."""
    path = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
    if path is None:
        message = "Chromium not found: apt-get install chromium"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path


# The reply containers' text, and whether each caption says the reply has ended (as in tests/web/test_browser.py);
# one per container key, leaving out a container Streamlit still shows from the run before (data-stale), which
# can sit beside its redrawn copy for a moment.
LANES_JS = """() => Object.values(Object.fromEntries([...document.querySelectorAll('[class*="st-key-reply-"]')]
    .filter(el => !el.closest('[data-stale="true"]'))
    .map(el => [el.className.match(/st-key-reply-[^ ]*/)[0], {
        text: [...el.querySelectorAll('[data-testid="stText"]')].map(t => t.innerText).join('').trim(),
        done: /(^|\\n)(complete|incomplete) ·/.test(el.innerText)
            || !!el.querySelector('[data-testid="stAlertContentError"]'),
    }])))"""


def wait_for_replies(page: Any, timeout: float) -> list[dict[str, Any]]:
    """A Compare page's reply cells (`text`, `done`) once every one has ended, or as they are when time runs out."""
    deadline = time.monotonic() + timeout
    lanes: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        lanes = page.evaluate(LANES_JS)
        if lanes and all(lane["done"] for lane in lanes):
            break
        page.wait_for_timeout(200)
    return lanes


def set_max_tokens(page: Any, lanes: int, value: int, seed: int | None = None) -> None:
    """Through the lane popovers, as a person would: short replies keep the test quick. With `seed`, every lane
    draws with that seed, so a test that reads what the replies say reads the same replies every run."""
    for i in range(lanes):
        page.get_by_role("button", name="Settings").nth(i).click()
        field = page.get_by_label("Max tokens").locator("visible=true")
        field.fill(str(value))
        field.press("Enter")
        if seed is not None:
            seeded = page.get_by_label("Seed", exact=True).locator("visible=true")
            seeded.fill(str(seed))
            seeded.press("Enter")
        page.keyboard.press("Escape")
        page.wait_for_function(
            f"() => document.body.innerText.split('· {value} tokens').length > {i + 1}", timeout=30_000
        )


def ask_every_lane(page: Any, question: str, lanes: int, max_tokens: int, seed: int | None = None) -> None:
    """On the Compare page: short replies in every lane (seeded with `seed`), then one message to all of them."""
    chat = page.get_by_placeholder("Message every lane")
    chat.wait_for(timeout=60_000)
    set_max_tokens(page, lanes, max_tokens, seed)
    chat.fill(question)
    chat.press("Enter")


# No script run in progress and nothing drawn stale: a click now is not lost in a rerun.
SETTLED_JS = """() => !document.querySelector('[data-testid="stStatusWidgetRunningIcon"]')
    && !document.querySelector('[data-stale="true"]')"""


def in_key(page: Any, key: str, selector: str = "") -> Any:
    """The elements matching `selector` inside the Streamlit element with widget key `key`."""
    return page.locator(f".st-key-{key} {selector}".strip())
