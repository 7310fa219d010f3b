# Offline means offline in the browser too: every page of the real `simulacra ui`, in Chromium, asks nothing of
# any host but the app's own (a page icon once made Streamlit point the favicon at Google's font CDN).

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import pytest

from tests.support.transcripts import Seed

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Request

pytestmark = [pytest.mark.browser, pytest.mark.model, pytest.mark.slow]

PAGES = ("Compare", "Transcripts", "Masks", "Experiments", "Review", "Models")


def test_no_page_requests_anything_but_the_app_itself(
    browser: Browser, serve_simulacra: Callable[[], str], seed: Seed
) -> None:
    # A saved reply, so Compare draws a reply, its actions and the icons around it, without running a model.
    cid, _ = seed.conversation("Offline", "Name a colour", ["Blue"], models=("base",))
    url = serve_simulacra()
    page = browser.new_page(viewport={"width": 1440, "height": 1000})
    requested: list[str] = []

    def record(request: Request) -> None:
        requested.append(request.url)

    page.on("request", record)
    page.goto(f"{url}/?conversation={cid}")
    page.locator(".st-key-reply-0-0").wait_for(timeout=60_000)
    for title in PAGES:
        page.locator('[data-testid="stSidebarNav"]').get_by_role("link", name=title).click()
        page.wait_for_load_state("networkidle")
        page.wait_for_timeout(500)  # the favicon follows the page's icon a moment after it is drawn
    assert page.locator('[data-testid="stException"]').count() == 0
    elsewhere = [
        u for u in requested if urlsplit(u).scheme not in ("data", "blob") and urlsplit(u).hostname != "127.0.0.1"
    ]
    assert not elsewhere, elsewhere
    assert len(requested) > 10  # the recording worked: the app's own scripts, styles and fonts are in it
