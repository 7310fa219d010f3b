# Masks' token trees side by side in Chromium against the real `simulacra ui`: under the token view of the
# base@assistant lane's reply, "Compare with masks" with too few masks gets one error line; with assistant and raw
# it draws both masks' trees on the same user message in two columns, with the depth where their top paths part.

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.support.browser import SETTLED_JS, ask_every_lane, in_key

if TYPE_CHECKING:
    from playwright.sync_api import Browser

pytestmark = [pytest.mark.browser, pytest.mark.model, pytest.mark.slow]

PANEL = "lane1-turn0-tv-treecmp"


def test_two_masks_trees_side_by_side_with_their_parting_depth(
    browser: Browser, simulacra_url: str, tmp_path: Path
) -> None:
    page = browser.new_page(viewport={"width": 1440, "height": 1400})
    page.goto(f"{simulacra_url}/")
    ask_every_lane(page, "What is the capital of France?", 3, 6)
    page.wait_for_function(
        "() => [...document.querySelectorAll('[class*=\"st-key-reply-\"]')]"
        ".filter(el => /(^|\\n)complete ·/.test(el.innerText)).length >= 3",
        timeout=240_000,
    )
    in_key(page, "lane1-turn0-tokens", "label").first.click()
    opener = in_key(page, f"{PANEL}-open", "summary").first
    opener.wait_for(timeout=30_000)
    opener.click()
    depth = in_key(page, f"{PANEL}-depth", "input").first
    depth.wait_for(timeout=30_000)
    depth.fill("2")
    depth.press("Enter")
    page.wait_for_timeout(500)
    page.wait_for_function(SETTLED_JS, timeout=60_000)  # a click during a rerun can be lost

    # Only the lane's own mask (assistant) is picked: one clear error, no tree.
    in_key(page, f"{PANEL}-go", "button").first.click()
    page.get_by_text("Pick 2 to 4 masks to compare their trees, not 1.").wait_for(timeout=60_000)
    assert in_key(page, PANEL + "-open", '[data-testid="stGraphVizChart"]').count() == 0

    page.wait_for_function(SETTLED_JS, timeout=60_000)  # the error's rerun can swallow the click that opens the list
    raw = page.get_by_role("option", name="raw", exact=True).first
    for _ in range(3):
        in_key(page, f"{PANEL}-masks", "input").first.click()
        try:
            raw.wait_for(timeout=10_000)
            break
        except Exception:  # noqa: BLE001 - the list did not open: the click came during a rerun
            page.keyboard.press("Escape")
    try:
        raw.click()
    except Exception:  # what the page showed instead, for whoever reads the failure
        page.screenshot(path="/tmp/simulacra-tree-compare-no-list.png", full_page=True)
        raise
    page.keyboard.press("Escape")
    page.wait_for_timeout(500)
    page.wait_for_function(SETTLED_JS, timeout=60_000)
    in_key(page, f"{PANEL}-go", "button").first.click()
    caption = page.get_by_text(
        re.compile(r"Their most likely paths (first part at depth \d|never part within depth 2)")
    )
    caption.wait_for(timeout=180_000)
    charts = in_key(page, PANEL + "-open", '[data-testid="stGraphVizChart"] svg')
    charts.nth(1).wait_for(timeout=60_000)
    assert charts.count() == 2
    for i in range(2):  # each mask's tree: the start, 3 children, 9 grandchildren
        assert charts.nth(i).locator("g.node").count() == 1 + 3 + 9
    panel_text = in_key(page, PANEL + "-open").first.inner_text()
    # The caption names each mask's most likely token where the paths part.
    assert "never part" in panel_text or re.search(
        r"depth \d \(of 2\): .+ \(base@assistant\), .+ \(base@raw\)\.", panel_text
    )
    assert "base@assistant" in panel_text and "base@raw" in panel_text
    shot = tmp_path / "tree-compare.png"
    in_key(page, PANEL + "-open").first.screenshot(path=str(shot))
    shutil.copy(shot, "/tmp/simulacra-tree-compare.png")
    body = page.inner_text("body")
    assert "Traceback" not in body and page.locator('[data-testid="stException"]').count() == 0
