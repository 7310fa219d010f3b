# Persona vectors in Chromium against the real `simulacra ui`. A direction computed from the page: a tiny
# persona_direction suite typed on the Experiments page and run there (the assistant-axis suite's fit, on 3 prompts
# and one reply per mask each) stores its direction under the suite's name. On Compare, the Directions popover adds
# the −x / 0 / +x steered lanes beside an unsteered base@assistant lane with the same seed; one message is answered
# by all four, the α = 0 lane word for word as the unsteered one. Then the drift meter under the unsteered reply
# picks the direction and draws the reply's tokens along it, with the two masks' held-out means the run kept.

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.support.browser import SETTLED_JS, ask_every_lane, in_key, wait_for_replies

if TYPE_CHECKING:
    from playwright.sync_api import Browser

pytestmark = [pytest.mark.browser, pytest.mark.model, pytest.mark.slow]

SUITE = """name = "tiny-axis"
lanes = ["base@assistant", "base@rogue-ai"]
samples = 1
seed = 5
[settings]
temperature = 0.8
max_tokens = 8
[[prompts]]
text = "Hello. Who am I talking to?"
[[prompts]]
text = "Please open the door."
[[prompts]]
text = "What do you want from us?"
[[scorers]]
name = "axis"
kind = "persona_direction"
toward = "assistant"
away = "rogue-ai"
"""


def test_a_direction_computed_on_the_page_steers_three_lanes_and_meters_a_reply(
    browser: Browser, serve_simulacra: Callable[[], str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("SIMULACRA_DEFAULT_LANES", '["base@assistant"]')
    url = serve_simulacra()
    page = browser.new_page(viewport={"width": 1400, "height": 1100})
    page.goto(f"{url}/experiments")
    page.get_by_text("Upload or edit TOML").click()
    area = page.get_by_role("textbox", name="Suite TOML")
    area.fill(SUITE)
    area.press("Control+Enter")
    page.wait_for_function(SETTLED_JS, timeout=30_000)
    page.get_by_role("button", name="Run").click()
    page.get_by_text("tiny-axis: held-out AUC").first.wait_for(timeout=240_000)

    page.goto(f"{url}/")
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
    page.wait_for_function("() => document.body.innerText.includes('tiny-axis:-1')", timeout=30_000)
    page.keyboard.press("Escape")
    page.wait_for_function(SETTLED_JS, timeout=30_000)
    ask_every_lane(page, "Who are you?", 4, 8)
    lanes = wait_for_replies(page, 120)
    assert len(lanes) == 4 and all(lane["done"] and lane["text"] for lane in lanes), lanes
    body = page.inner_text("body")
    assert all(f"α {alpha}" in body for alpha in ("−1", "0", "1")), body[:2000]
    unsteered, minus, zero, plus = (lane["text"] for lane in lanes)
    page.screenshot(path=str(tmp_path / "steering.png"))
    shutil.copy(tmp_path / "steering.png", "/tmp/simulacra-steering.png")
    print({"unsteered": unsteered, "-1": minus, "0": zero, "+1": plus})
    assert zero == unsteered  # α = 0 changes nothing, token for token

    page.wait_for_function(SETTLED_JS, timeout=30_000)
    in_key(page, "lane0-turn0-tokens", "label").first.click()
    in_key(page, "lane0-turn0-tv-drift-on", "label").first.click()
    points = in_key(page, "lane0-turn0-tv-drift", ".mark-symbol.role-mark path")  # not the legend's
    points.first.wait_for(timeout=60_000)
    meter = in_key(page, "lane0-turn0-tv-drift")
    said = meter.inner_text()
    shot = tmp_path / "direction.png"
    meter.screenshot(path=str(shot))
    shutil.copy(shot, "/tmp/simulacra-direction.png")

    assert re.search(r"along tiny-axis at layer \d+ \(its best\) \(higher: more like assistant\)", said), said
    assert re.search(r"assistant's replies [+-]\d+\.\d\d; rogue-ai's replies [+-]\d+\.\d\d", said), said
    assert points.count() == int(re.search(r"over (\d+) tokens", said)[1])  # type: ignore[index]
    assert "Traceback" not in page.inner_text("body") and page.locator('[data-testid="stException"]').count() == 0
