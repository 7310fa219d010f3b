"""The Transcripts page's tests share these: conversations seeded through repo the way a finished turn writes
them (Seed, and the `engine` and `seed` fixtures, registered for tests/web by its conftest), and reading the page as a
person does."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func
from sqlmodel import Session, select
from streamlit.runtime.media_file_manager import MediaFileManager
from streamlit.testing.v1 import AppTest, app_test

from simulator.values import SamplingSettings
from storage import repo
from storage.db import make_engine
from storage.tables import Conversation
from tests.support.factories import id_of
from tests.support.screen import keyed_blocks, plain
from ui.service.settings import Settings

PAGE = "views/transcripts.py"


@pytest.fixture
def engine(data_dir: Path) -> Iterator[Engine]:
    """The database the app opens, found the way the app finds it."""
    engine = make_engine(Settings().resolved_database_url)
    yield engine
    engine.dispose()


class Seed:
    """Writes finished conversations through repo, as a turn on the Compare page would."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def conversation(
        self,
        title: str,
        question: str,
        answers: list[str],
        *,
        models: tuple[str, ...] = ("base", "chat"),
        mask: str | None = "assistant",
    ) -> tuple[int, list[int]]:
        """One turn to one lane per model; `answers` go to the lanes in turn. Returns (id, reply ids)."""
        with Session(self.engine) as s:
            cid = id_of(repo.create_conversation(session=s, title=title).id)
            lanes = [
                id_of(
                    repo.add_lane(
                        session=s,
                        conversation_id=cid,
                        position=i,
                        label=f"{model}@{mask}" if mask else model,
                        kind="simulator" if model == "base" else "chat",
                        model=model,
                        mask_name=mask,
                        mask_snapshot=None,
                        system_prompt=None,
                        settings=SamplingSettings(temperature=0.0, max_tokens=16, seed=1, top_p=1.0),
                    ).id
                )
                for i, model in enumerate(models)
            ]
            user = repo.add_user_message(session=s, conversation_id=cid, parent_id=None, content=question)
            replies = []
            for i, answer in enumerate(answers):
                reply = repo.start_reply(
                    session=s, conversation_id=cid, lane_id=lanes[i % len(lanes)], parent_id=user.id, prompt=question
                )
                repo.finish_reply(
                    session=s,
                    message_id=id_of(reply.id),
                    content=answer,
                    tokens=None,
                    status="complete",
                    finish_reason="stop",
                    error=None,
                    ttft_ms=12.0,
                    total_ms=80.0,
                    tokens_per_s=40.0,
                    seed=7,
                )
                replies.append(id_of(reply.id))
        return cid, replies

    def annotate(
        self, message_id: int, *, tags: tuple[str, ...] = (), rating: int | None = None, note: str = ""
    ) -> None:
        with Session(self.engine) as s:
            repo.add_annotation(session=s, message_id=message_id, tags=tags, rating=rating, note=note)

    def conversations(self) -> int:
        with Session(self.engine) as s:
            return int(s.exec(select(func.count()).select_from(Conversation)).one())

    def get(self, conversation_id: int) -> Conversation:
        with Session(self.engine) as s:
            return repo.get_conversation(session=s, conversation_id=conversation_id)


@pytest.fixture
def seed(engine: Engine) -> Seed:
    return Seed(engine)


def transcripts(app: AppTest) -> AppTest:
    at = app.switch_page(PAGE).run()
    assert not at.exception
    return at


def hits(at: AppTest) -> list[str]:
    """The titles in the results, as a person reads them."""
    return [_plain(block.markdown[0].value) for block in keyed_blocks(at.main, "tr-hit-")]


def _plain(markdown: str) -> str:
    """As a person reads it: no escapes, guards or bold marks."""
    return plain(markdown.replace("**", ""))


def _open(at: AppTest, conversation_id: int) -> AppTest:
    at.button(key=f"tr-open-{conversation_id}").click().run()
    assert not at.exception and not at.error
    return at


@pytest.fixture
def media(monkeypatch: pytest.MonkeyPatch) -> list[MediaFileManager]:
    """The real media file managers AppTest creates, remembered so a test can fetch what a download serves."""
    managers: list[MediaFileManager] = []

    class Remembered(MediaFileManager):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            managers.append(self)

    monkeypatch.setattr(app_test, "MediaFileManager", Remembered)
    return managers


def download(at: AppTest, media: list[MediaFileManager], fmt: str) -> tuple[str, str]:
    """What pressing a download button serves: (file name, text), generated as the server generates it."""
    [button] = [b for b in at.main.get("download_button") if b.key == f"tr-download-{fmt}"]
    url = media[-1].execute_deferred(button.proto.deferred_file_id)
    served = media[-1].read_file(url.rsplit("/", 1)[1].split(".")[0])
    assert served is not None and served.filename is not None
    return served.filename, served.content.decode("utf-8")
