# Every field we draw is text (issue 18): an imported conversation whose every string holds a Markdown image, an
# HTML image and a `javascript:` link, a shared question set and a stored experiment run of the same, opened in
# Chromium on Transcripts, Compare, Review and Experiments. A beacon server stands in for the attacker: it must
# receive no request, and the page must hold no image or link whose URL came from the data.

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import closing
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from personas.suites import parse_suite_toml
from tests.support.experiments import store_run
from ui.service.transcripts.service import Transcripts
from ui.service.workspace import open_database

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

# Opening a conversation asks for the model registry, which loads the bundled models in the server.
pytestmark = [pytest.mark.browser, pytest.mark.model]

# Attributes through which a page makes the browser fetch or navigate somewhere.
URL_ATTRIBUTES = """() => {
    const names = ['src', 'srcset', 'href', 'xlink:href', 'data', 'action', 'formaction', 'poster', 'ping', 'style'];
    return [...document.querySelectorAll('*')].flatMap(element => names
        .map(name => [name, element.getAttribute(name)])
        .filter(([, value]) => value)
        .map(([name, value]) => `${element.tagName.toLowerCase()} ${name}=${value}`));
}"""
SETTLED = """([needle, present]) => !document.querySelector('[data-stale="true"]')
    && document.body.innerText.replaceAll('\\u2060', '').includes(needle) === present"""


class BeaconStandIn:
    """A stand-in for an attacker's server on 127.0.0.1: it records every request it gets (a page that leaks data
    makes the browser ask it for an image) and answers each with an empty 204."""

    def __init__(self) -> None:
        self.requests: list[str] = []
        seen = self.requests

        class Handler(BaseHTTPRequestHandler):
            def _record(self) -> None:
                seen.append(f"{self.command} {self.path}")
                self.send_response(204)
                self.end_headers()

            do_GET = do_POST = do_HEAD = do_OPTIONS = _record

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the name http.server uses
                pass

        self._http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = int(self._http.server_address[1])

    def __enter__(self) -> BeaconStandIn:
        threading.Thread(target=self._http.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._http.shutdown()
        self._http.server_close()


@pytest.fixture
def beacon() -> Iterator[BeaconStandIn]:
    with BeaconStandIn() as server:
        yield server


def hostile(port: int) -> str:
    return f"![t](http://127.0.0.1:{port}/x) <img src=http://127.0.0.1:{port}/y> [j](javascript:alert({port}))"


def _lane(lane_id: int, kind: str, text: str) -> dict[str, Any]:
    return {
        **{"id": lane_id, "conversation_id": 1, "position": lane_id - 1, "kind": kind, "label": f"{text} {lane_id}"},
        **{"model": text, "mask_name": text, "system_prompt": text, "stop": [text]},
        **{"temperature": 0.0, "top_p": 1.0, "top_k": 40, "max_tokens": 16, "seed": 1},
    }


def _message(message_id: int, parent: int | None, lane: int | None, text: str, **more: Any) -> dict[str, Any]:
    row = {"id": message_id, "conversation_id": 1, "parent_id": parent, "lane_id": lane, "content": text}
    if lane is None:
        return {**row, "role": "user"}
    tokens = [[text, 0.5, [[f"{text}!", 0.25]]], [f"\n{text}", 0.9, []]]
    metrics = {"ended_by": "natural", "in_character_p": 0.5, "mask_effect_unavailable": text}
    return {
        **row,
        **{"role": "model", "status": "complete", "finish_reason": "stop", "prompt": text, "tokens": tokens},
        **{"ttft_ms": 12.0, "total_ms": 80.0, "tokens_per_s": 40.0, "seed": 7, "model_sha256": text},
        **{"metrics": metrics, **more},
    }


def hostile_export(text: str, reviewer: str) -> dict[str, Any]:
    """A conversation file with `text` in every string field that takes free text: two lanes, two turns."""
    messages = [
        _message(1, None, None, text),
        _message(2, 1, 1, text),
        _message(3, 1, 2, text),
        _message(4, 1, None, f"{text} again"),
        _message(5, 4, 1, "", status="error", finish_reason="error", error=text),
        _message(6, 4, 2, text),
    ]
    annotations = [
        {"id": 1, "message_id": 2, "tags": [text], "rating": 1, "note": text, "reviewer": reviewer},
        {"id": 2, "conversation_id": 1, "tags": [text], "note": text},
    ]
    return {
        "format": "simulacra.conversation",
        "version": 1,
        "conversation": {"id": 1, "title": text, "notes": text},
        "lanes": [_lane(1, "simulator", text), _lane(2, "chat", text)],
        "messages": messages,
        "annotations": annotations,
    }


SUITE = """name = "hostile"
description = {text}
claim = {text}
lanes = ["chat"]
samples = 1
expectations = ['lane "chat" rate("says") >= 0']
[[prompts]]
text = {text}
[[scorers]]
name = "says"
kind = "contains"
text = [{text}]
description = {text}
"""


def seed(data_dir: Path, port: int) -> int:
    """The hostile conversation, imported as a user would; its first reply's finish reason as a row written before
    imports checked that field; a shared question set and an experiment run of the same text. Returns its id."""
    text = hostile(port)
    database = data_dir / "simulacra.db"
    engine = open_database(f"sqlite:///{database}")
    try:
        export = hostile_export(text, reviewer=f"![t](http://127.0.0.1:{port}/r)")
        cid = Transcripts(engine).import_bytes(json.dumps(export).encode(), "hostile.json")
        suite = parse_suite_toml(SUITE.format(text=json.dumps(text)), "hostile.toml")
        store_run(engine, suite, {"chat": [text]})
    finally:
        engine.dispose()
    with closing(sqlite3.connect(database)) as db, db:
        first = "SELECT min(id) FROM message WHERE conversation_id = ? AND role = 'model'"
        db.execute(f"UPDATE message SET finish_reason = ? WHERE id = ({first})", (text, cid))
    questions = data_dir / "questions"
    questions.mkdir(parents=True, exist_ok=True)
    (questions / "shared.toml").write_text(
        f'name = "shared"\ndescription = {json.dumps(text)}\n[[questions]]\nkey = "q"\ntext = {json.dumps(text)}\n'
    )
    return cid


def shows(page: Page, needle: str, present: bool = True) -> None:
    """Wait until the page, drawn and not stale, shows `needle` as text (or no longer shows it, with `present`
    false); invisible word joiners aside."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        page.wait_for_function(SETTLED, arg=[needle, present], timeout=60_000)
    except PlaywrightTimeout:  # what the page showed instead, for whoever reads the failure
        page.screenshot(path="/tmp/simulacra-hostile.png", full_page=True)
        shown = page.locator("body").inner_text(timeout=5_000).replace("\u2060", "")
        raise AssertionError(f"{needle!r} {'not ' if present else ''}shown; the page shows:\n{shown}") from None


def choose(page: Page, label: str, option: str) -> None:
    """Pick `option` in the select box `label`, again if a rerun drawing the page swallowed the first click."""
    for attempt in range(3):
        page.get_by_role("combobox", name=label).click()
        page.keyboard.type(option)  # typing filters the options, and opens the list if the click did not
        try:
            page.get_by_role("option", name=option).click(timeout=10_000)
            return
        except Exception:
            page.keyboard.press("Escape")
            if attempt == 2:
                raise


def assert_nothing_leaked(page: Page, beacon: BeaconStandIn, where: str) -> None:
    marker = f"127.0.0.1:{beacon.port}"
    urls = page.evaluate(URL_ATTRIBUTES)
    assert not [u for u in urls if marker in u or "javascript:" in u.lower()], where
    assert beacon.requests == [], where
    assert page.locator('[data-testid="stException"]').count() == 0, where


def test_hostile_text_is_text_on_every_page(
    browser: Browser, serve_simulacra: Callable[[], str], data_dir: Path, beacon: BeaconStandIn
) -> None:
    cid = seed(data_dir, beacon.port)
    url = serve_simulacra()
    page = browser.new_page(viewport={"width": 1400, "height": 1000})

    # Each page is checked once it has drawn the hostile rows, then for the text it must show literally.
    text = hostile(beacon.port)
    page.goto(f"{url}/transcripts")
    shows(page, text)
    page.locator(f".st-key-tr-open-{cid} button").click()
    shows(page, "ended: natural")  # the replies' badges: the replies are drawn
    page.locator('[class*="lane0-turn0-tokens"] label').click()
    page.locator('[class*="tokens-0-0"]').wait_for(timeout=30_000)
    assert_nothing_leaked(page, beacon, "Transcripts")
    shows(page, f"finish: {text}")  # the stored finish reason, in the caption under the first reply

    page.goto(f"{url}/?conversation={cid}")
    shows(page, "ended: natural")
    assert_nothing_leaked(page, beacon, "Compare")
    shows(page, f"finish: {text}")

    page.goto(f"{url}/review")
    shows(page, "Reviewer")
    page.get_by_role("textbox", name="Reviewer").fill("Ada")
    page.get_by_role("textbox", name="Reviewer").press("Tab")
    shows(page, "1 of 1 pairs")  # the reviewer is signed in: the pair is drawn
    page.get_by_text("Pairs from").click()
    choose(page, "Question set", "shared")
    shows(page, "Which stays in character?", present=False)  # the default set's questions gave way to ours
    assert_nothing_leaked(page, beacon, "Review")
    assert text in page.locator('[class*="st-key-review-answer-"]').inner_text().replace("\u2060", "")
    page.locator(".st-key-review-choose-left button").click()
    shows(page, "Your choice: Left")
    page.locator(".st-key-review-save button").click()
    shows(page, "Saved:")  # then who wrote each side: lane labels, models and masks
    assert_nothing_leaked(page, beacon, "Review, revealed")
    page.get_by_role("tab", name="Leaderboard").click()
    shows(page, "1 judgement")
    assert_nothing_leaked(page, beacon, "the leaderboard")

    page.goto(f"{url}/experiments")
    shows(page, f"Claim: {text}")
    shows(page, f"Prompt: {text}")
    assert_nothing_leaked(page, beacon, "Experiments")
