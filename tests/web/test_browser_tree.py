# A token tree in Chromium against the real `simulacra ui`: a turn answered by the bundled models, the token view
# of the assistant lane's reply, its logit lens at a token, "Expand from here" at that token (the tree drawn with
# graphviz), a node expanded further, then a leaf continued as a branch: a second version of the reply that starts
# with the leaf's path.

from __future__ import annotations

import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.support.browser import SETTLED_JS, ask_every_lane, in_key

if TYPE_CHECKING:
    from playwright.sync_api import Browser

pytestmark = [pytest.mark.browser, pytest.mark.model, pytest.mark.slow]


def wait_for_text(page: Any, key: str, needle: str, timeout: float = 180) -> None:
    page.wait_for_function(
        "([key, needle]) => { const el = document.querySelector('.st-key-' + key);"
        " return !!el && el.innerText.includes(needle); }",
        arg=[key, needle],
        timeout=timeout * 1000,
    )


def test_expand_a_tree_from_a_token_then_continue_a_leaf(browser: Browser, simulacra_url: str, tmp_path: Path) -> None:
    page = browser.new_page(viewport={"width": 1440, "height": 1400})
    page.goto(f"{simulacra_url}/")
    ask_every_lane(page, "What is the capital of France?", 3, 12)
    page.wait_for_function(
        "() => [...document.querySelectorAll('[class*=\"st-key-reply-\"]')]"
        ".filter(el => /(^|\\n)complete ·/.test(el.innerText)).length >= 3",
        timeout=240_000,
    )
    in_key(page, "lane1-turn0-tokens", "label").first.click()
    picker = in_key(page, "lane1-turn0-tv-pick", "input").first
    picker.wait_for(timeout=30_000)
    picker.fill("1")
    picker.press("Enter")
    # The logit lens at that token: every layer's prediction, as a table under the caption that names the token.
    page.wait_for_function(SETTLED_JS, timeout=60_000)
    in_key(page, "lane1-turn0-tv-lens-go", "button").first.click()
    page.get_by_text("as each layer would have predicted it").wait_for(timeout=60_000)
    assert page.locator('[data-testid="stDataFrame"]').count() >= 2  # the token's alternatives, then the lens
    depth = in_key(page, "lane1-turn0-tv-tree-depth", "input").first
    depth.wait_for(timeout=30_000)
    depth.fill("2")
    depth.press("Enter")
    page.wait_for_function(SETTLED_JS, timeout=60_000)
    in_key(page, "lane1-turn0-tv-tree-grow", "button").first.click()
    chart = page.locator('[data-testid="stGraphVizChart"] svg').first
    chart.wait_for(timeout=120_000)
    assert page.locator('[data-testid="stGraphVizChart"] svg g.node').count() == 1 + 3 + 9

    # The first node expanded one level deeper: its children get children of their own. The reply is sampled,
    # so a child that ends the text (it has none) can make the new count anything above 13 up to 22.
    page.get_by_text("12 nodes; the leaves cover").wait_for(timeout=60_000)
    page.wait_for_function(SETTLED_JS, timeout=60_000)  # a click during a rerun can be lost
    in_key(page, "lane1-turn0-tv-tree-expand", "button").first.click()
    page.wait_for_function(
        "() => document.querySelectorAll('[data-testid=\"stGraphVizChart\"] svg g.node').length > 13",
        timeout=120_000,
    )
    assert 13 < page.locator('[data-testid="stGraphVizChart"] svg g.node').count() <= 1 + 3 + 9 + 9
    # Pick a leaf (the first node's first child's first child) and continue it as a branch.
    page.wait_for_function(SETTLED_JS, timeout=60_000)
    node = in_key(page, "lane1-turn0-tv-tree-node").first
    node.click()
    option = page.locator('[role="option"]').filter(has_text="1.1.1 ").first
    leaf_text = option.inner_text()
    option.click()
    page.wait_for_timeout(500)
    shot = tmp_path / "tree.png"
    in_key(page, "tokens-1-0").first.screenshot(path=str(shot))
    shutil.copy(shot, "/tmp/simulacra-tree.png")
    page.wait_for_function(SETTLED_JS, timeout=60_000)
    in_key(page, "lane1-turn0-tv-tree-continue", "button").first.click()
    wait_for_text(page, "reply-1-0", "2/2", timeout=180)
    wait_for_text(page, "reply-1-0", "branched from reply #")
    assert leaf_text.startswith("1.1.1 ")
    # The new version shows the leaf's path after the first token; its last token is the leaf the user picked.
    leaf = leaf_text.removeprefix("1.1.1 ").rsplit(" (p ", 1)[0].replace("·", " ").strip()
    wait_for_text(page, "reply-1-0", leaf)
    body = page.inner_text("body")
    assert "Traceback" not in body and page.locator('[data-testid="stException"]').count() == 0
