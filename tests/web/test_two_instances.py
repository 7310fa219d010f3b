# A team on one PostgreSQL: two real `simulacra ui` processes share a new database on the local server, a headless
# Chromium page on each sends a message while `simulacra ask` sends a third, all three at once. Every turn must be
# saved whole (user message, a complete reply with a probability on every token), and each instance's Transcripts
# page must list all three conversations, whichever process wrote them.

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from sqlmodel import Session

from storage import repo
from storage.db import make_engine
from tests.support.browser import wait_for_replies
from tests.support.postgres import postgres_database
from tests.support.processes import free_port, streamlit_server

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

pytestmark = [pytest.mark.browser, pytest.mark.model, pytest.mark.slow]

MAX_TOKENS = 12
# Distinct first messages: each becomes its conversation's title, so the Transcripts pages can be checked for them.
MESSAGES = {
    "first": "Which walrus guards the north gate?",
    "second": "Which otter keeps the harbour lamp?",
    "cli": "Which narwhal sings at the ferry?",
}


@pytest.fixture
def shared_database(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A new PostgreSQL database for both instances and the CLI (they inherit the environment), and one lane per
    new conversation, an in-process base lane: three turns on two shared cores stay quick."""
    with postgres_database() as url:
        monkeypatch.setenv("SIMULACRA_DATABASE_URL", url)
        monkeypatch.setenv("SIMULACRA_DEFAULT_LANES", '["base@assistant"]')
        yield url


@pytest.fixture
def two_instances(shared_database: str, tmp_path: Path) -> Iterator[list[str]]:
    """Two `simulacra ui` processes on the shared database, each on its own port with its own log."""
    with ExitStack() as servers:
        urls = []
        for name in ("first", "second"):
            port = free_port()
            command = [str(Path(sys.executable).with_name("simulacra")), "ui", "--port", str(port)]
            log = tmp_path / f"{name}.log"
            urls.append(servers.enter_context(streamlit_server(command, port, cwd=tmp_path, log=log, timeout=90)))
        yield urls


def ready_to_send(page: Page, url: str, message: str) -> Any:
    """Open Compare, make the one lane's replies short through its popover, and type `message` (not sent yet);
    returns the message box."""
    page.goto(f"{url}/")
    chat = page.get_by_placeholder("Message every lane")
    chat.wait_for(timeout=60_000)
    page.get_by_role("button", name="Settings").first.click()
    field = page.get_by_label("Max tokens").locator("visible=true")
    field.fill(str(MAX_TOKENS))
    field.press("Enter")
    page.keyboard.press("Escape")
    page.get_by_text(f"· {MAX_TOKENS} tokens").first.wait_for(timeout=30_000)
    chat.fill(message)
    return chat


def saved_turns(database_url: str) -> dict[str, list[Any]]:
    """Every saved conversation's messages by title, read back from PostgreSQL through storage.repo."""
    engine = make_engine(database_url)
    try:
        with Session(engine) as session:
            return {
                summary.title: repo.list_messages(session=session, conversation_id=summary.id)
                for summary in repo.list_conversations(session=session)
            }
    finally:
        engine.dispose()


def assert_saved_whole(turns: dict[str, list[Any]]) -> None:
    assert sorted(turns) == sorted(MESSAGES.values()), list(turns)
    for title, messages in turns.items():
        user, reply = messages
        assert (user.role, user.content, user.parent_id) == ("user", title, None)
        assert (reply.role, reply.parent_id, reply.status, reply.error) == ("model", user.id, "complete", None)
        assert reply.content.strip() and reply.tokens and len(reply.tokens) <= MAX_TOKENS, reply.content
        assert all(0 < p <= 1 and top for _, p, top, *_ in reply.tokens), reply.tokens


def in_progress(user: Any, reply: Any) -> tuple[datetime, datetime]:
    """From when a turn's message was saved to when its reply ended (the reply is saved as it starts; total_ms is
    measured), as the database kept the times."""

    def aware(moment: datetime) -> datetime:
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)

    return aware(user.created_at), aware(reply.created_at) + timedelta(milliseconds=reply.total_ms or 0)


def most_at_once(spans: list[tuple[datetime, datetime]]) -> int:
    """The most spans open at one moment (a span that ends as another starts does not overlap it)."""
    edges = sorted([(start, 1) for start, _ in spans] + [(end, -1) for _, end in spans], key=lambda e: (e[0], e[1]))
    open_now = most = 0
    for _, step in edges:
        open_now += step
        most = max(most, open_now)
    return most


def test_two_instances_and_the_cli_write_at_once(
    browser: Browser, two_instances: list[str], shared_database: str, tmp_path: Path
) -> None:
    pages = [browser.new_context().new_page() for _ in two_instances]  # two people, two browser sessions
    boxes = [
        ready_to_send(page, url, MESSAGES[name])
        for page, url, name in zip(pages, two_instances, ("first", "second"), strict=True)
    ]

    sent_at = datetime.now(UTC)
    cli = subprocess.Popen(
        [str(Path(sys.executable).with_name("simulacra")), "ask", MESSAGES["cli"]]
        + ["--lane", "base@assistant", "--max-tokens", str(MAX_TOKENS), "--json"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    for box in boxes:
        box.press("Enter")
    shown = [wait_for_replies(page, 240) for page in pages]
    out, err = cli.communicate(timeout=240)
    for page, name in zip(pages, ("first", "second"), strict=True):
        page.screenshot(path=str(tmp_path / f"{name}-compare.png"), full_page=True)

    assert cli.returncode == 0, err
    [lane] = json.loads(out)["lanes"]
    assert lane["status"] == "complete" and lane["text"].strip(), lane
    for lanes in shown:
        assert len(lanes) == 1 and lanes[0]["done"] and lanes[0]["text"], lanes
    turns = saved_turns(shared_database)
    assert_saved_whole(turns)
    # At the same time: the three were sent together (the CLI started before any reply had ended), and turns from
    # different processes were in progress at once (message saved, reply streaming), by the times the database
    # kept. The replies themselves need not overlap: each process loads its model when it first needs it, and under
    # load one warm-up ran 8 s longer than the other instance's whole seven-token reply. (A poll of the database
    # every 0.2 s missed a 1.7 s overlap on a quiet machine: the saved times are the measure.)
    spans = {title: in_progress(*messages) for title, messages in turns.items()}
    for title, (start, end) in spans.items():
        print(f"{title!r}: in progress {(start - sent_at).total_seconds():.1f}-{(end - sent_at).total_seconds():.1f} s")
    assert most_at_once(list(spans.values())) >= 2, spans

    for page, url, name in zip(pages, two_instances, ("first", "second"), strict=True):
        page.goto(f"{url}/transcripts")
        for message in MESSAGES.values():
            page.get_by_text(message).first.wait_for(timeout=60_000)
        page.screenshot(path=str(tmp_path / f"{name}-transcripts.png"), full_page=True)
        assert page.locator('[data-testid="stException"]').count() == 0
        assert "Traceback" not in page.inner_text("body")
