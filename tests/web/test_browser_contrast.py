# Two masks contrasted in Chromium: on the real `simulacra ui`, a person turns the second of two base@assistant lanes
# into a contrast lane (assistant − quiz, γ 2) in its Settings popover, sends one message, and sees the contrast
# reply beside plain assistant's, each under its own label; then compares the contrast reply's two masks per step.

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.support.browser import set_max_tokens, wait_for_replies

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

pytestmark = [pytest.mark.browser, pytest.mark.model, pytest.mark.slow]

QUESTION = "What is the capital of France?"


def choose(page: Page, label: str, option: str) -> None:
    """Pick `option` in the visible select box `label`, again if a rerun swallowed the first click."""
    for attempt in range(3):
        page.get_by_role("combobox", name=label).locator("visible=true").click()
        page.keyboard.type(option)
        try:
            page.get_by_role("option", name=option).click(timeout=10_000)
            return
        except Exception:
            page.keyboard.press("Escape")
            if attempt == 2:
                raise


def test_a_contrast_lane_runs_beside_its_plain_mask(
    browser: Browser, serve_simulacra: Callable[[], str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("SIMULACRA_DEFAULT_LANES", '["base@assistant", "base@assistant"]')
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(f"{serve_simulacra()}/")
    chat = page.get_by_placeholder("Message every lane")
    chat.wait_for(timeout=60_000)
    set_max_tokens(page, 2, 16)

    page.get_by_role("button", name="Settings").nth(1).click()
    choose(page, "Contrast with", "quiz")
    gamma = page.get_by_label("γ (contrast weight)").locator("visible=true")
    gamma.fill("2")
    gamma.press("Enter")
    page.keyboard.press("Escape")
    page.wait_for_function("() => document.body.innerText.includes('base@assistant − quiz (γ 2)')", timeout=30_000)
    chat.fill(QUESTION)
    chat.press("Enter")
    lanes = wait_for_replies(page, 180)
    page.get_by_role("button", name="Per step").nth(1).click()
    page.get_by_role("button", name="Compare per step").locator("visible=true").click()
    page.wait_for_function("() => document.body.innerText.includes('mean KL')", timeout=120_000)
    page.locator('[data-testid="stVegaLiteChart"]').first.wait_for(timeout=30_000)

    shot = tmp_path / "contrast.png"
    page.screenshot(path=str(shot), full_page=True)
    shutil.copy(shot, "/tmp/simulacra-contrast.png")
    body = page.inner_text("body")
    assert len(lanes) == 2 and all(lane["done"] and lane["text"] for lane in lanes), lanes
    assert "base@assistant − quiz (γ 2)" in body and "base@assistant\n" in body, body
    assert "A = assistant, B = quiz, reading reply" in body and "(in-process)" in body, body
    assert page.locator('[data-testid="stException"]').count() == 0 and "Traceback" not in body
