# The Transcripts page in Chromium against the real `simulacra ui`, on conversations seeded through repo (no
# model runs): search finds one, HTML and script in its title, notes, replies and annotations show as text,
# and each download button serves its format.

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from sqlmodel import Session

from simulator.values import SamplingSettings
from storage import repo
from storage.db import make_engine
from ui.service.settings import Settings

if TYPE_CHECKING:
    from playwright.sync_api import Browser

pytestmark = [pytest.mark.browser, pytest.mark.model, pytest.mark.slow]

TITLE = "<b>x</b> walrus log"
NOTES = "<script>window.hacked=1</script>"
REPLY = "The walrus <img src=x onerror=window.hacked=2> sleeps."
NOTE = "<i>note</i> <script>window.hacked=3</script>"
# Elements our text would have made, had any of it been rendered as HTML.
INJECTED = "script:not([src]), b, i, img"


def _seed() -> int:
    engine = make_engine(Settings().resolved_database_url)
    try:
        with Session(engine) as s:
            cid = repo.create_conversation(session=s, title=TITLE).id
            other = repo.create_conversation(session=s, title="Penguins").id
            assert cid is not None and other is not None
            repo.set_notes(session=s, conversation_id=cid, notes=NOTES)
            for conversation, answers in ((other, ["Penguins swim."]), (cid, ["Walruses are big.", REPLY])):
                lane = repo.add_lane(
                    session=s,
                    conversation_id=conversation,
                    position=0,
                    label="base@assistant",
                    kind="simulator",
                    model="base",
                    mask_name="assistant",
                    mask_snapshot=None,
                    system_prompt=None,
                    settings=SamplingSettings(temperature=0.0, top_p=1.0, top_k=40, max_tokens=16, seed=1, stop=[]),
                )
                user = repo.add_user_message(session=s, conversation_id=conversation, parent_id=None, content="Tell me")
                replies = []
                for answer in answers:
                    reply = repo.start_reply(
                        session=s,
                        conversation_id=conversation,
                        lane_id=lane.id or 0,
                        parent_id=user.id,
                        prompt="Tell me",
                    )
                    repo.finish_reply(
                        session=s,
                        message_id=reply.id or 0,
                        content=answer,
                        tokens=None,
                        status="complete",
                        finish_reason="stop",
                        error=None,
                        ttft_ms=10.0,
                        total_ms=50.0,
                        tokens_per_s=40.0,
                        seed=3,
                    )
                    replies.append(reply.id)
            repo.add_annotation(session=s, message_id=replies[1], tags=["<b>tag</b>"], rating=1, note=NOTE)
            repo.add_annotation(session=s, message_id=replies[0], rating=-1)
            return cid
    finally:
        engine.dispose()


def _download(page: Any, key: str) -> tuple[str, str]:
    with page.expect_download(timeout=60_000) as started:
        page.locator(f".st-key-{key} button").first.click()  # the download button comes first
    download = started.value
    return download.suggested_filename, Path(download.path()).read_text(encoding="utf-8")


def test_find_open_and_download_in_chromium(browser: Browser, serve_simulacra: Callable[[], str]) -> None:
    cid = _seed()
    simulacra_url = serve_simulacra()
    page = browser.new_page(viewport={"width": 1440, "height": 1000}, accept_downloads=True)
    page.goto(f"{simulacra_url}/transcripts")  # a deep link as the server's very first request
    search = page.locator(".st-key-tr-query input")
    search.wait_for(timeout=60_000)
    # The app's router ran (its page titles), not the page file on its own (file names, and an "app" entry).
    nav = page.locator('[data-testid="stSidebarNav"]').inner_text()
    assert "Transcripts" in nav and "Compare" in nav and "app" not in nav.split(), nav
    search.fill("walrus sleeps")
    search.press("Enter")
    page.wait_for_function(
        "() => document.querySelectorAll('[class*=\"st-key-tr-hit-\"]').length === 1", timeout=30_000
    )
    from playwright.sync_api import expect

    # expect() retries: a hit's container is drawn a moment before its title and snippet are filled in, and
    # under load the widgets likewise appear before their values.
    hit = page.locator(f".st-key-tr-hit-{cid}")
    expect(hit).to_contain_text(TITLE, timeout=30_000)
    expect(hit).to_contain_text("<img src=x onerror=window.hacked=2>", timeout=30_000)
    expect(hit.locator("strong")).to_have_text([TITLE, "walrus", "sleeps"], timeout=30_000)  # title, matches
    assert hit.locator(INJECTED).count() == 0

    hit.get_by_role("button", name="Open").click()
    page.locator(".st-key-tr-reply-0-0").wait_for(timeout=60_000)
    expect(page.locator(f".st-key-tr-title-{cid} input")).to_have_value(TITLE, timeout=30_000)
    expect(page.locator(f".st-key-tr-notes-{cid} textarea")).to_have_value(NOTES, timeout=30_000)
    reply = page.locator(".st-key-tr-reply-0-0")  # the newest reply; its annotation can come a redraw later
    for text in (REPLY, "<i>note</i>", "<b>tag</b>"):
        expect(reply).to_contain_text(text, timeout=30_000)
    assert page.locator('[data-testid="stMain"]').locator(INJECTED).count() == 0
    assert page.evaluate("() => window.hacked") is None

    name, markdown = _download(page, "tr-download-md")
    assert name == f"conversation-{cid}.md" and markdown.startswith(f"# {TITLE}\n") and REPLY in markdown
    name, exported = _download(page, "tr-download-json")
    assert name == f"conversation-{cid}.json" and json.loads(exported)["conversation"]["notes"] == NOTES
    name, jsonl = _download(page, "tr-download-jsonl")
    assert name == f"conversation-{cid}.jsonl"
    assert [json.loads(line)["messages"][-1]["role"] for line in jsonl.splitlines()] == ["assistant"]
    name, dpo = _download(page, "tr-download-dpo")
    assert name == f"conversation-{cid}.dpo.jsonl"
    assert [json.loads(line) for line in dpo.splitlines()] == [
        {"prompt": "Tell me", "chosen": REPLY, "rejected": "Walruses are big."}
    ]
    assert page.locator('[data-testid="stException"]').count() == 0
