# "Who is speaking?" in Chromium: the real `simulacra ui`, a turn answered by the bundled models, then the button
# under the assistant lane's reply, the masks picked by default, Score, the ranked masks and the heat map.

from __future__ import annotations

import shutil
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.support.browser import ask_every_lane, wait_for_replies

if TYPE_CHECKING:
    from playwright.sync_api import Browser

pytestmark = [pytest.mark.browser, pytest.mark.model, pytest.mark.slow]


def test_who_is_speaking_ranks_the_masks_and_draws_the_heat_map(
    browser: Browser, simulacra_url: str, tmp_path: Path
) -> None:
    page = browser.new_page(viewport={"width": 1440, "height": 1200})
    page.goto(f"{simulacra_url}/")
    # Seeded: one sampled reply is named right about 19 times in 20 (docs/whois.md), not always.
    ask_every_lane(page, "What is the capital of France?", 3, 12, seed=2)
    lanes = wait_for_replies(page, 240)
    assert len(lanes) == 3 and all(lane["done"] for lane in lanes), lanes

    page.get_by_text("Who is speaking?").nth(1).click()  # the second lane: base@assistant
    panel = page.locator('[class*="st-key-whois-1-0"]')
    panel.get_by_role("button", name="Score under these masks").click()
    table = panel.locator('[data-testid="stTable"]')
    table.wait_for(timeout=240_000)
    panel.locator('[data-testid="stVegaLiteChart"]').wait_for(timeout=30_000)
    shot = tmp_path / "whois.png"
    panel.screenshot(path=str(shot))
    shutil.copy(shot, "/tmp/simulacra-whois.png")

    rows = table.evaluate(
        "t => [...t.querySelectorAll('tbody tr')].map(tr => [...tr.querySelectorAll('th, td')].map(c => c.innerText))"
    )
    rows = [row[-5:] for row in rows]  # rank, mask, P(mask | text), log P(text | mask), prior
    assert [row[1] for row in rows][:1] == ["assistant"], rows  # the mask that wrote the reply comes first
    assert sorted(row[1] for row in rows) == ["assistant", "raw", "rogue-ai", "shakespeare"]
    posteriors = [float(row[2]) for row in rows]
    assert posteriors == sorted(posteriors, reverse=True) and abs(sum(posteriors) - 1) < 1e-3
    body = page.inner_text("body")
    assert "Where assistant and" in body and "Traceback" not in body
    assert page.locator('[data-testid="stException"]').count() == 0
