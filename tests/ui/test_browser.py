# The real thing end to end: `simulacra ui` serving on 127.0.0.1, driven by Debian's Chromium through
# Playwright, with the bundled models answering one message in three lanes at once.

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from testsupport import stop_process

pytestmark = pytest.mark.browser

QUESTION = "What is the capital of France?"
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
# Per reply container: its text so far, and whether its caption says the reply has ended.
LANES_JS = """() => [...document.querySelectorAll('[class*="st-key-reply-"]')].map(el => ({
    text: [...el.querySelectorAll('[data-testid="stText"]')].map(t => t.innerText).join('').trim(),
    done: /(^|\\n)complete ·/.test(el.innerText) || !!el.querySelector('[data-testid="stAlertContentError"]'),
}))"""


def chromium() -> str:
    path = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
    if path is None:
        message = "Chromium not found: apt-get install chromium"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_server(url: str, process: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"simulacra ui exited with {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise AssertionError(f"{url} did not answer within {timeout} s")


def set_max_tokens(page: Any, lanes: int, value: int) -> None:
    """Through the lane popovers, as a person would: short replies keep the test quick."""
    for i in range(lanes):
        page.get_by_role("button", name="Settings").nth(i).click()
        field = page.get_by_label("Max tokens").locator("visible=true")
        field.fill(str(value))
        field.press("Enter")
        page.keyboard.press("Escape")
        page.wait_for_function(
            f"() => document.body.innerText.split('· {value} tokens').length > {i + 1}", timeout=30_000
        )


def test_three_lanes_stream_together_in_chromium(tmp_path: Path, data_dir: Path) -> None:
    from playwright.sync_api import sync_playwright

    executable = chromium()
    port = free_port()
    simulacra = Path(sys.executable).with_name("simulacra")
    log = (tmp_path / "server.log").open("wb")
    server = subprocess.Popen(
        [str(simulacra), "ui", "--port", str(port)], cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT
    )
    try:
        wait_for_server(f"http://127.0.0.1:{port}/_stcore/health", server, timeout=60)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1440, "height": 1000})
            page.goto(f"http://127.0.0.1:{port}/")
            chat = page.get_by_placeholder("Message every lane")
            chat.wait_for(timeout=60_000)
            set_max_tokens(page, 3, 24)
            chat.fill(QUESTION)
            chat.press("Enter")

            streamed_together = False
            deadline = time.monotonic() + 180
            lanes: list[dict[str, Any]] = []
            while time.monotonic() < deadline:
                lanes = page.evaluate(LANES_JS)
                streaming = [lane for lane in lanes if lane["text"] and not lane["done"]]
                streamed_together = streamed_together or len(streaming) >= 2
                if len(lanes) == 3 and all(lane["done"] and lane["text"] for lane in lanes):
                    break
                time.sleep(0.05)
            shot = tmp_path / "compare.png"
            page.screenshot(path=str(shot), full_page=True)
            shutil.copy(shot, "/tmp/simulacra-compare.png")
            body = page.inner_text("body")
            exceptions = page.locator('[data-testid="stException"]').count()
            browser.close()
        assert len(lanes) == 3 and all(lane["text"] for lane in lanes), lanes
        assert streamed_together, "the lanes did not stream at the same time"
        assert exceptions == 0 and "Traceback" not in body
        assert QUESTION in body
        # Each lane kept its own model and mask through the popover edits (late-mounted widgets once reset them).
        assert all(label in body for label in ("base@raw", "base@assistant", "chat · T 0.7")), body
        assert body.count("T 0.7 · 24 tokens") == 3, body
    finally:
        stop_process(server)
        log.close()
