# Reviewing a conversation in Chromium against the real `simulacra ui`: annotate a reply with HTML in it
# (shown as text), open the token view and branch from a token, draw four samples, then find the
# conversation on the Transcripts page, open it, regenerate and step between siblings, and download every
# export format.

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.support.browser import ask_every_lane

if TYPE_CHECKING:
    from playwright.sync_api import Browser

pytestmark = [pytest.mark.browser, pytest.mark.model, pytest.mark.slow]

QUESTION = "Describe the planet Mars in one sentence."
HOSTILE_NOTE = "<script>window.hacked=1</script><b>bold</b> <img src=x onerror=window.hacked=2>"


def in_key(page: Any, key: str, selector: str = "") -> Any:
    return page.locator(f".st-key-{key} {selector}".strip())


def wait_for_text(page: Any, key: str, needle: str, timeout: float = 180) -> None:
    page.wait_for_function(
        "([key, needle]) => { const el = document.querySelector('.st-key-' + key);"
        " return !!el && el.innerText.includes(needle); }",
        arg=[key, needle],
        timeout=timeout * 1000,
    )


def wait_until_done(page: Any, lanes: int, timeout: float = 180) -> None:
    page.wait_for_function(
        f"() => [...document.querySelectorAll('[class*=\"st-key-reply-\"]')]"
        f".filter(el => /(^|\\n)complete ·/.test(el.innerText)).length >= {lanes}",
        timeout=timeout * 1000,
    )


def test_review_a_conversation_in_chromium(browser: Browser, simulacra_url: str, tmp_path: Path) -> None:
    page = browser.new_page(viewport={"width": 1440, "height": 1100}, accept_downloads=True)
    page.goto(f"{simulacra_url}/")
    ask_every_lane(page, QUESTION, 3, 16)
    wait_until_done(page, 3)

    # Tag and rate the base@assistant reply, with HTML and script in the note.
    in_key(page, "lane1-turn0-annotate-open", "button").first.click()
    popover = page.locator('[data-testid="stPopoverBody"]').last
    popover.get_by_label("Other tags").fill("interesting, <i>mine</i>")
    popover.get_by_text("+1", exact=True).click()
    popover.get_by_label("Note").fill(HOSTILE_NOTE)
    popover.get_by_role("button", name="Add annotation").click()
    wait_for_text(page, "reply-1-0", "window.hacked=1")
    page.keyboard.press("Escape")
    cell = in_key(page, "reply-1-0").first
    assert "<b>bold</b>" in cell.inner_text() and "<i>mine</i>" in cell.inner_text()
    assert cell.locator("script, b, i, img").count() == 0
    assert page.evaluate("() => window.hacked") is None

    # Token view: pick token #2 and branch with an alternative; a second version appears.
    in_key(page, "lane1-turn0-tokens", "label").first.click()
    picker = in_key(page, "lane1-turn0-tv-pick", "input").first
    picker.wait_for(timeout=30_000)
    picker.fill("2")
    picker.press("Enter")
    branch = page.locator('[class*="st-key-lane1-turn0-tv-branch-2-"] button').first
    branch.wait_for(timeout=30_000)
    branch.click()
    wait_for_text(page, "reply-1-0", "2/2", timeout=120)
    wait_for_text(page, "reply-1-0", "branched from reply #")

    # Four samples in the raw lane, each with its own seed.
    in_key(page, "lane0-turn0-samples-open", "button").first.click()
    count = page.locator('[data-testid="stPopoverBody"]').last.get_by_label("Samples")
    count.fill("4")
    count.press("Enter")
    # Pressed, not clicked: on a long page the popover can open past the window's bottom edge, where Playwright's
    # click waits for it to come into view and times out.
    page.locator('[data-testid="stPopoverBody"]').last.get_by_role("button", name="Draw").press("Enter")
    page.wait_for_function(
        "() => document.querySelectorAll('[class*=\"st-key-sample-\"]').length >= 5", timeout=180_000
    )
    samples = page.evaluate(
        """() => [...document.querySelectorAll('[class*="st-key-sample-"]')].slice(1).map(el => ({
            seed: (el.innerText.match(/seed (\\d+)/) || [])[1],
            text: [...el.querySelectorAll('[data-testid="stText"]')].map(t => t.innerText).join('')}))"""
    )
    page.screenshot(path=str(tmp_path / "review.png"), full_page=True)
    shutil.copy(tmp_path / "review.png", "/tmp/simulacra-review.png")
    assert len(samples) == 4, samples
    assert len({s["seed"] for s in samples}) == 4 and None not in {s["seed"] for s in samples}, samples
    # Seeds are drawn at random, and two of them can give the same short reply (it happened: a list of "Describe
    # the ... in one sentence." lines twice): different texts, not four of them, show the seeds were used.
    assert len({s["text"] for s in samples}) >= 2, samples
    assert page.locator('[data-testid="stException"]').count() == 0

    # Transcripts: find it by a word of the reply, open it, regenerate, step back, download everything.
    reply = in_key(page, "reply-1-0", '[data-testid="stText"]').first.inner_text()
    word = max(re.findall(r"[A-Za-z]{4,}", reply), key=len)
    page.get_by_role("link", name="Transcripts").click()
    query = in_key(page, "tr-query", "input").first
    query.wait_for(timeout=30_000)
    query.fill(word)
    query.press("Enter")
    opener = page.locator('[class*="st-key-tr-open-"] button').first
    opener.wait_for(timeout=30_000)
    opener.click()
    wait_for_text(page, "tr-reply-1-0", "2/2", timeout=60)
    in_key(page, "tr-lane1-turn0-regenerate", "button").first.click()
    wait_for_text(page, "tr-reply-1-0", "3/3", timeout=120)
    in_key(page, "tr-lane1-turn0-prev", "button").first.click()
    wait_for_text(page, "tr-reply-1-0", "2/3", timeout=30)
    downloads = {}
    for fmt in ("md", "json", "jsonl", "dpo"):
        with page.expect_download(timeout=30_000) as download:
            in_key(page, f"tr-download-{fmt}", "button").first.click()
        downloads[fmt] = Path(download.value.path()).read_text(encoding="utf-8")
    page.screenshot(path=str(tmp_path / "transcripts.png"), full_page=True)
    shutil.copy(tmp_path / "transcripts.png", "/tmp/simulacra-transcripts.png")
    assert page.evaluate("() => window.hacked") is None
    assert page.locator('[data-testid="stException"]').count() == 0
    assert QUESTION in downloads["md"] and "window.hacked=1" in downloads["md"]
    export = json.loads(downloads["json"])
    assert len([m for m in export["messages"] if m["role"] == "model"]) == 3 + 1 + 4 + 1
    assert all(set(json.loads(line)) == {"messages"} for line in downloads["jsonl"].splitlines())
    for line in downloads["dpo"].splitlines():  # one rated reply makes no pair: the file may be empty
        assert set(json.loads(line)) == {"prompt", "chosen", "rejected"}
