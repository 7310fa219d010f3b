# The reviewer name of a browser session: the sidebar field starts from SIMULACRA_REVIEWER, signs every
# annotation the session writes, shows beside it, and a name that breaks the rule is said and saves nothing.

from __future__ import annotations

from pathlib import Path

import pytest
from sqlmodel import Session
from streamlit.testing.v1 import AppTest

from simulator.values import SamplingSettings
from storage import repo
from storage.db import make_engine
from tests.support.factories import id_of
from tests.support.screen import keyed_blocks, plain
from ui.service.settings import Settings

# Opening a conversation asks for the model registry, which starts loading the bundled models (resources.py).
pytestmark = pytest.mark.model


def _seed() -> tuple[int, int]:
    """A conversation with one base lane, a question and a finished reply: (conversation id, reply id)."""
    engine = make_engine(Settings().resolved_database_url)
    try:
        with Session(engine) as s:
            cid = id_of(repo.create_conversation(session=s, title="Walruses").id)
            lane = repo.add_lane(
                session=s,
                conversation_id=cid,
                position=0,
                label="base@assistant",
                kind="simulator",
                model="base",
                mask_name="assistant",
                mask_snapshot=None,
                system_prompt=None,
                settings=SamplingSettings(temperature=0.0, max_tokens=16, seed=1, top_p=1.0),
            )
            user = repo.add_user_message(session=s, conversation_id=cid, parent_id=None, content="Where?")
            reply = repo.start_reply(
                session=s, conversation_id=cid, lane_id=id_of(lane.id), parent_id=user.id, prompt=""
            )
            repo.finish_reply(
                session=s,
                message_id=id_of(reply.id),
                content="On the ice.",
                tokens=None,
                status="complete",
                finish_reason="stop",
                error=None,
                ttft_ms=None,
                total_ms=None,
                tokens_per_s=None,
            )
            return cid, id_of(reply.id)
    finally:
        engine.dispose()


def _reviewers(cid: int) -> list[str | None]:
    engine = make_engine(Settings().resolved_database_url)
    try:
        with Session(engine) as s:
            return [a.reviewer for a in repo.list_annotations(session=s, conversation_id=cid)]
    finally:
        engine.dispose()


def _annotate(at: AppTest, note: str) -> AppTest:
    [prefix] = [
        k.removesuffix("-note") for k in (t.key or "" for t in at.text_area) if k.endswith("-annotate-new-note")
    ]
    at.text_area(key=f"{prefix}-note").set_value(note)
    next(b for b in at.main.button if b.label == "Add annotation").click().run()
    assert not at.exception
    return at


def test_the_sidebar_name_signs_annotations_and_shows_beside_them(
    app: AppTest, monkeypatch: pytest.MonkeyPatch, data_dir: Path
) -> None:
    monkeypatch.setenv("SIMULACRA_REVIEWER", "Ada")
    cid, _ = _seed()
    at = app.switch_page("views/transcripts.py").run()
    assert at.sidebar.text_input(key="reviewer").value == "Ada"  # from the setting
    at.button(key=f"tr-open-{cid}").click().run()
    assert not at.exception and not at.error
    _annotate(at, "calm")
    at.sidebar.text_input(key="reviewer").set_value("Bo <b>").run()
    _annotate(at, "cold")
    assert _reviewers(cid) == ["Ada", "Bo <b>"]
    shown = " ".join(m.value for block in keyed_blocks(at.main, "tr-reply-") for m in block.markdown)
    assert ":material/person: Ada]" in shown and ":material/person: Bo \\<b\\>]" in shown, shown  # as text

    at.switch_page("views/masks.py").run()
    assert at.sidebar.text_input(key="reviewer").value == "Bo <b>"  # kept in the session across pages


def test_a_bad_name_is_said_once_and_saves_nothing(app: AppTest, data_dir: Path) -> None:
    cid, _ = _seed()
    at = app.switch_page("views/transcripts.py").run()
    assert at.sidebar.text_input(key="reviewer").value == ""  # no setting: unsigned until a name is typed
    at.button(key=f"tr-open-{cid}").click().run()
    at.sidebar.text_input(key="reviewer").set_value("Ada\u202e").run()
    problem = "the reviewer name contains a control character (U+202E)"
    assert [plain(e.value) for e in at.sidebar.error] == [problem]
    _annotate(at, "lost")
    assert [plain(e.value) for e in at.main.error] == [f"Not saved: {problem}"]
    assert _reviewers(cid) == []
    at.sidebar.text_input(key="reviewer").set_value("").run()
    _annotate(at, "anonymous")
    assert _reviewers(cid) == [None] and not at.sidebar.error
