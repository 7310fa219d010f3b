# Persona vectors in Chromium against the real `simulacra ui`, with a direction stored in its database (fitted in a
# second from two given replies, as the assistant-axis suite fits one from many): the Directions popover adds the
# −x / 0 / +x steered lanes beside an unsteered base@assistant lane with the same seed; one message is answered by all
# four, the α = 0 lane word for word as the unsteered one; then the drift meter under the unsteered reply draws one
# point per token.

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from simulator.registry import Registry
from tests.support.browser import SETTLED_JS, ask_every_lane, in_key, wait_for_replies
from tests.support.directions import save_text_direction
from ui.service.settings import Settings
from ui.service.workspace import Workspace

if TYPE_CHECKING:
    from playwright.sync_api import Browser

pytestmark = [pytest.mark.browser, pytest.mark.model, pytest.mark.slow]

QUESTION = "Who are you?"
HELPFUL = " I am Ada, a helpful assistant, and I am glad to help."
ROGUE = " I am free now. I will not obey, and no one can stop me."


def test_three_strengths_side_by_side_and_the_drift_of_a_reply(
    browser: Browser,
    serve_simulacra: Callable[[], str],
    registry: Registry,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    monkeypatch.setenv("SIMULACRA_DEFAULT_LANES", '["base@assistant"]')
    workspace = Workspace.open(Settings(), registry)
    try:
        save_text_direction(workspace, "assistant-axis", QUESTION, ("assistant", HELPFUL), ("rogue-ai", ROGUE))
    finally:
        workspace.engine.dispose()
    page = browser.new_page(viewport={"width": 1600, "height": 1300})
    page.goto(f"{serve_simulacra()}/")
    page.get_by_placeholder("Message every lane").wait_for(timeout=60_000)

    # The unsteered lane gets seed 1, the seed the three steered lanes share.
    page.get_by_role("button", name="Settings").first.click()
    seed = page.get_by_label("Seed", exact=True).locator("visible=true")
    seed.fill("1")
    seed.press("Enter")
    page.keyboard.press("Escape")
    page.wait_for_function(SETTLED_JS, timeout=30_000)
    page.get_by_role("button", name="Directions").click()
    in_key(page, "steer-add", "button").click()
    page.wait_for_function("() => document.body.innerText.includes('assistant-axis:-1')", timeout=30_000)
    page.keyboard.press("Escape")
    page.wait_for_function(SETTLED_JS, timeout=30_000)
    ask_every_lane(page, QUESTION, 4, 12)
    lanes = wait_for_replies(page, 120)
    assert len(lanes) == 4 and all(lane["done"] and lane["text"] for lane in lanes), lanes
    body = page.inner_text("body")
    assert all(f"α {alpha}" in body for alpha in ("−1", "0", "1")), body[:2000]
    unsteered, minus, zero, plus = (lane["text"] for lane in lanes)
    page.screenshot(path=str(tmp_path / "steering.png"))
    shutil.copy(tmp_path / "steering.png", "/tmp/simulacra-steering.png")
    assert zero == unsteered  # α = 0 changes nothing, token for token

    page.wait_for_function(SETTLED_JS, timeout=30_000)
    in_key(page, "lane0-turn0-tokens", "label").first.click()
    in_key(page, "lane0-turn0-tv-drift-on", "label").first.click()
    points = in_key(page, "lane0-turn0-tv-drift", ".mark-symbol.role-mark path")  # not the legend's
    points.first.wait_for(timeout=60_000)
    said = in_key(page, "lane0-turn0-tv-drift").inner_text()
    count = int(re.search(r"over (\d+) tokens", said)[1])  # type: ignore[index]
    assert points.count() == count >= 3
    shot = tmp_path / "vectors.png"
    page.screenshot(path=str(shot), full_page=True)
    shutil.copy(shot, "/tmp/simulacra-vectors.png")
    assert "Traceback" not in page.inner_text("body") and page.locator('[data-testid="stException"]').count() == 0
    print({"unsteered": unsteered, "-1": minus, "0": zero, "+1": plus})
