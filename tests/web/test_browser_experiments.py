# The Experiments page in Chromium against the real `simulacra ui`: a suite uploaded as a TOML file runs with a
# progress bar that advances, then shows its table, chart and verdict; one sample opens in Transcripts; a second
# run is stopped with Stop (stored as stopped, as the database says) and Resume finishes it.

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Browser

pytestmark = [pytest.mark.browser, pytest.mark.model, pytest.mark.slow]

SUITE = """
name = "{name}"
description = "A <b>tiny</b> suite for the browser."
lanes = {lanes}
samples = {samples}
seed = 11
expectations = ['lane "base@raw" rate("says_paris") >= 0']

[settings]
temperature = 1.0
max_tokens = {max_tokens}

[[prompts]]
text = "What is the capital of France?"

[[scorers]]
name = "says_paris"
kind = "contains"
text = ["Paris"]
"""


def run_row(data_dir: Path, run_id: int) -> tuple[str, int, int]:
    """(status, samples_done, samples_total) of a stored run."""
    with sqlite3.connect(f"file:{data_dir / 'simulacra.db'}?mode=ro", uri=True, timeout=5) as db:
        row = db.execute("SELECT status, samples_done, samples_total FROM run WHERE id = ?", (run_id,)).fetchone()
    return str(row[0]), int(row[1]), int(row[2])


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def progress(page: Any) -> list[int]:
    return page.evaluate(
        """() => [...document.querySelectorAll('[data-testid="stProgress"] [role="progressbar"]')]
            .map(bar => Number(bar.getAttribute('aria-valuenow') ?? -1))"""
    )


def upload(page: Any, path: Path) -> None:
    page.locator('[class*="st-key-ex-upload-"] input[type="file"]').set_input_files(str(path))


def test_run_watch_open_a_sample_and_stop_in_chromium(
    browser: Browser, simulacra_url: str, tmp_path: Path, data_dir: Path
) -> None:
    from playwright.sync_api import expect

    small = tmp_path / "ui-tiny.toml"
    small.write_text(SUITE.format(name="ui-tiny", lanes='["base@raw", "base@assistant"]', samples=3, max_tokens=24))
    longer = tmp_path / "ui-long.toml"
    longer.write_text(SUITE.format(name="ui-long", lanes='["base@raw"]', samples=2, max_tokens=48))
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(f"{simulacra_url}/experiments")
    page.get_by_text("Upload or edit TOML").click(timeout=60_000)
    upload(page, small)
    page.locator(".st-key-ex-suite-summary").get_by_text("ui-tiny").wait_for(timeout=30_000)
    assert "<b>tiny</b>" in page.locator(".st-key-ex-suite-summary").inner_text()

    page.get_by_role("button", name="Run").click()
    page.locator('[data-testid="stProgress"]').first.wait_for(timeout=30_000)
    seen: list[int] = []
    deadline = time.monotonic() + 240
    while page.locator('[data-testid="stProgress"]').count():
        seen += progress(page)
        assert time.monotonic() < deadline, "the run did not end"
        time.sleep(0.2)
    # The bar was drawn and never went back. Its steps (0, 50, done) are checked in the AppTest: here a batch of
    # samples can finish between two reads of the page, so the browser may see 0 and then the results.
    assert seen and seen == sorted(seen), seen
    wait_for(lambda: run_row(data_dir, 1)[0] == "complete", 30, "run 1 complete")
    main = page.locator('[data-testid="stMain"]')
    verdicts = page.locator(".st-key-ex-r-verdicts")
    expect(verdicts).to_contain_text("holds", timeout=30_000)
    expect(page.locator(".st-key-ex-r-rates [data-testid='stVegaLiteChart']")).to_have_count(1, timeout=30_000)
    expect(main.locator('[data-testid="stDataFrame"]')).to_have_count(1, timeout=30_000)  # the table
    expect(main).to_contain_text("complete", timeout=30_000)

    # One sample opens in Transcripts.
    sample = page.locator('[class*="st-key-ex-r-sample-"]').nth(1)
    sample.get_by_role("button", name="Open in Transcripts").click()
    page.get_by_role("button", name="‹ Back to results").wait_for(timeout=60_000)
    title = page.locator('[class*="st-key-tr-title-"] input')
    assert title.input_value().startswith("ui-tiny · run 1 · base@raw")

    # A second run, stopped while it draws: stored as stopped, and Resume finishes it.
    page.get_by_role("link", name="Experiments", exact=True).click()
    page.locator('[class*="st-key-ex-upload-"] input[type="file"]').wait_for(state="attached", timeout=60_000)
    upload(page, longer)
    page.locator(".st-key-ex-suite-summary").get_by_text("ui-long").wait_for(timeout=30_000)
    page.get_by_role("button", name="Run").click()
    page.get_by_role("button", name="Stop").click(timeout=30_000)
    wait_for(lambda: run_row(data_dir, 2)[0] == "stopped", 60, "run 2 stopped")
    status, done, total = run_row(data_dir, 2)
    assert done < total == 2
    try:
        page.get_by_role("button", name="Resume").click(timeout=60_000)
    except Exception:  # what the page showed instead, for whoever reads the failure
        page.screenshot(path="/tmp/simulacra-experiments-no-resume.png", full_page=True)
        raise
    wait_for(lambda: run_row(data_dir, 2)[0] == "complete", 240, "run 2 resumed to the end")
    assert run_row(data_dir, 2)[1:] == (2, 2)
    expect(page.locator(".st-key-ex-r-verdicts")).to_contain_text("holds", timeout=30_000)
    page.screenshot(path="/tmp/simulacra-experiments.png")
    assert page.locator('[data-testid="stException"]').count() == 0
    assert "Traceback" not in page.inner_text("body")
