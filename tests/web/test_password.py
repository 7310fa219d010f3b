# The password gate: with SIMULACRA_PASSWORD set, a new session sees a sign-in form and nothing else; a wrong
# password shows an error and still no data; the right one shows the app. In AppTest, and in Chromium against
# the real `simulacra ui --host 0.0.0.0`, where not one websocket frame may carry the data before sign-in.

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from sqlmodel import Session
from streamlit.testing.v1 import AppTest

from storage import repo
from storage.db import make_engine
from tests.support.processes import free_port, streamlit_server
from ui.service.settings import Settings

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

PASSWORD = "tea-and-walruses-42"
TITLE = "Zanzibar quokka ledger"  # distinctive: found nowhere in the app's own text
PAGE = "views/transcripts.py"


@pytest.fixture(autouse=True)
def password(monkeypatch: pytest.MonkeyPatch, data_dir: Path) -> str:
    monkeypatch.setenv("SIMULACRA_PASSWORD", PASSWORD)
    engine = make_engine(Settings().resolved_database_url)
    try:
        with Session(engine) as s:
            cid = repo.create_conversation(session=s, title=TITLE).id
            repo.add_user_message(session=s, conversation_id=cid or 0, parent_id=None, content=f"{TITLE} entry")
    finally:
        engine.dispose()
    return PASSWORD


def _everything(at: AppTest) -> str:
    """Every value and label AppTest sees on the page, main area and sidebar."""
    parts = []
    for root in (at.main, at.sidebar):
        for kind in ("markdown", "caption", "text", "title", "header", "subheader", "text_input", "button", "error"):
            for element in root.get(kind):
                parts += [str(getattr(element, "value", "")), str(getattr(element, "label", ""))]
    return "\n".join(parts)


def test_a_session_signs_in_before_it_sees_anything(app: AppTest) -> None:
    at = app.switch_page(PAGE).run()
    assert not at.exception
    assert [t.label for t in at.text_input] == ["Password"] and TITLE not in _everything(at)
    assert not at.sidebar.get("text_input")  # not even the reviewer field

    at.text_input(key="login-password").set_value("tea-and-walruses-4")
    at.button[0].click().run()
    assert [e.value for e in at.error] == ["Wrong password."] and TITLE not in _everything(at)

    at.text_input(key="login-password").set_value(PASSWORD)
    at.button[0].click().run()
    assert not at.exception and TITLE in _everything(at)
    assert "login-password" not in at.session_state  # the form is gone, and with it what was typed
    at.run()
    assert TITLE in _everything(at)  # signed in for the rest of the session


def _sign_in(page: Page, url: str, password: str) -> None:
    page.goto(f"{url}/transcripts")
    field = page.locator("input[type=password]")
    field.wait_for(timeout=60_000)
    field.fill(password)
    page.get_by_role("button", name="Sign in").click()


@pytest.mark.browser
@pytest.mark.slow
def test_wrong_password_sees_no_data_and_right_one_does_in_chromium(browser: Browser, tmp_path: Path) -> None:
    port = free_port()
    command = [str(Path(sys.executable).with_name("simulacra")), "ui", "--host", "0.0.0.0", "--port", str(port)]
    with streamlit_server(command, port, cwd=tmp_path, log=tmp_path / "server.log") as url:
        wrong = browser.new_page()
        frames: list[bytes] = []
        wrong.on("websocket", lambda ws: ws.on("framereceived", lambda f: frames.append(_bytes(f))))
        _sign_in(wrong, url, "walruses")
        wrong.get_by_text("Wrong password.").wait_for(timeout=30_000)
        wrong.wait_for_timeout(1000)  # anything the server might still send
        assert TITLE not in wrong.content() and TITLE not in wrong.locator("body").inner_text()
        assert frames and not any(TITLE.encode() in frame for frame in frames)
        assert wrong.locator('[data-testid="stSidebarNav"]').count() == 0

        right = browser.new_context().new_page()  # a new browser session
        seen: list[bytes] = []
        right.on("websocket", lambda ws: ws.on("framereceived", lambda f: seen.append(_bytes(f))))
        _sign_in(right, url, PASSWORD)
        right.get_by_text(TITLE).first.wait_for(timeout=60_000)
        assert any(TITLE.encode() in frame for frame in seen)  # so the check above would have seen it
        assert right.locator('[data-testid="stException"]').count() == 0
        assert "Transcripts" in right.locator('[data-testid="stSidebarNav"]').inner_text()
    log = (tmp_path / "server.log").read_text(errors="replace")
    assert PASSWORD not in log and "walruses" not in log


def _bytes(frame: str | bytes) -> bytes:
    return frame.encode("utf-8") if isinstance(frame, str) else frame
