# The Transcripts page on a real SQLite file seeded through repo: search, filters, pages, opening a conversation
# side by side, editing its title and notes, every download's contents, importing, and hostile text shown as
# text. No turn runs here: the conversations are written the way a finished turn writes them. Opening a
# conversation, or any page but this one, asks for the model registry, whose first use loads the bundled
# models in a background thread (ui/web/resources.py): those tests are marked `model`.

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import streamlit.testing.v1.app_test as app_test
from screen import keyed_blocks, plain, reply_text
from sqlalchemy import Engine, func
from sqlmodel import Session, select
from streamlit.runtime.media_file_manager import MediaFileManager
from streamlit.testing.v1 import AppTest
from streamlit.testing.v1.element_tree import Block, Markdown
from testsupport import _id

from simulator.events import SamplingSettings
from storage import repo
from storage.db import make_engine
from storage.tables import Conversation, Message
from ui.service.settings import Settings
from ui.web.views.transcripts import snippet_markdown

PAGE = "views/transcripts.py"
HOSTILE = "<script>alert(1)</script>"
BOLD_TAG = "<b>x</b>"


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
            cid = _id(repo.create_conversation(session=s, title=title).id)
            lanes = [
                _id(
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
                    message_id=_id(reply.id),
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
                replies.append(_id(reply.id))
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


# -- search, filters, sort, pages ------------------------------------------------------------------------


@pytest.mark.model
def test_search_finds_a_word_and_only_its_conversation(app: AppTest, seed: Seed) -> None:
    seed.conversation("Sea", "Tell me about the sea", ["The walrus sleeps on ice.", "Seals swim."])
    seed.conversation("Birds", "Tell me about penguins", ["Penguins cannot fly."])
    at = transcripts(app)
    assert hits(at) == ["Birds", "Sea"] and at.main.caption[0].value == "2 conversations"

    at.sidebar.text_input(key="tr-query").set_value("walrus").run()
    assert not at.exception
    assert hits(at) == ["Sea"]
    [hit] = keyed_blocks(at.main, "tr-hit-")
    assert hit.markdown[1].value == "The **walrus** sleeps on ice\\."  # the match in bold, nothing else marked up
    assert "0 annotations" in hit.caption[0].value

    # The search stays while the user looks at another page.
    at.switch_page("views/masks.py").run()
    at.switch_page(PAGE).run()
    assert at.sidebar.text_input(key="tr-query").value == "walrus" and hits(at) == ["Sea"]

    at.sidebar.text_input(key="tr-query").set_value("walrus penguin").run()
    assert hits(at) == [] and at.main.info[0].value == "No conversation matches."


def test_filters_narrow_by_tag_rating_model_mask_and_date(app: AppTest, seed: Seed) -> None:
    tagged, [tagged_reply] = seed.conversation("Tagged", "Hi", ["Hello"], models=("base",))
    rated, [rated_reply] = seed.conversation("Rated", "Hi", ["Hello"], models=("chat",), mask=None)
    seed.conversation("Plain", "Hi", ["Hello"], models=("openai/gpt-4o-mini",), mask="pirate")
    seed.annotate(tagged_reply, tags=("broke-character",), rating=1)
    seed.annotate(rated_reply, rating=-1, note="refused politely")
    at = transcripts(app)
    assert hits(at) == ["Plain", "Rated", "Tagged"]

    at.sidebar.selectbox(key="tr-tag").set_value("broke-character").run()
    assert hits(at) == ["Tagged"]
    at.sidebar.selectbox(key="tr-tag").set_value("any").run()
    at.sidebar.radio(key="tr-rating").set_value("−1").run()
    assert hits(at) == ["Rated"]
    at.sidebar.radio(key="tr-rating").set_value("any")
    at.sidebar.selectbox(key="tr-model").set_value("openai/gpt-4o-mini").run()
    assert hits(at) == ["Plain"]
    at.sidebar.selectbox(key="tr-model").set_value("any")
    at.sidebar.selectbox(key="tr-mask").set_value("assistant").run()
    assert hits(at) == ["Tagged"]
    at.sidebar.selectbox(key="tr-mask").set_value("any").run()
    assert hits(at) == ["Plain", "Rated", "Tagged"]

    today = datetime.now(UTC).date()
    at.sidebar.date_input(key="tr-dates").set_value((today - timedelta(days=3), today - timedelta(days=1))).run()
    assert hits(at) == []
    at.sidebar.date_input(key="tr-dates").set_value((today - timedelta(days=1), today)).run()
    assert hits(at) == ["Plain", "Rated", "Tagged"]

    at.sidebar.radio(key="tr-sort").set_value("Most annotated").run()
    assert hits(at)[0] in ("Rated", "Tagged") and hits(at)[-1] == "Plain"
    assert not at.exception


def test_twenty_a_page_and_the_second_page(app: AppTest, seed: Seed) -> None:
    for n in range(25):
        seed.conversation(f"Walk {n:02}", f"Question {n}", ["An answer"], models=("base",))
    at = transcripts(app)
    assert hits(at) == [f"Walk {n:02}" for n in range(24, 4, -1)]
    assert "Page 1 of 2" in [c.value for c in at.main.caption]
    assert at.button(key="tr-prev").disabled and not at.button(key="tr-next").disabled

    at.button(key="tr-next").click().run()
    assert hits(at) == [f"Walk {n:02}" for n in range(4, -1, -1)]
    assert "Page 2 of 2" in [c.value for c in at.main.caption] and at.button(key="tr-next").disabled

    # A new search starts again from its first page.
    at.sidebar.text_input(key="tr-query").set_value("question 7").run()
    assert hits(at) == ["Walk 07"]


# -- one conversation ------------------------------------------------------------------------------------


def _open(at: AppTest, conversation_id: int) -> AppTest:
    at.button(key=f"tr-open-{conversation_id}").click().run()
    assert not at.exception and not at.error
    return at


@pytest.mark.model
def test_open_shows_the_lanes_side_by_side_and_edits_save_at_once(app: AppTest, seed: Seed) -> None:
    cid, _ = seed.conversation("Capitals", "What is the capital of France?", ["Paris.", "The capital is Paris."])
    at = _open(transcripts(app), cid)
    labels = [_plain(m.value) for m in at.main.markdown]
    assert "base@assistant" in labels and "chat@assistant" in labels
    assert [t.value for m in at.main.chat_message if m.name == "user" for t in m.text] == [
        "What is the capital of France?"
    ]
    cells = [at.main.get_by_key(f"tr-reply-{lane}-0") for lane in (0, 1)]
    assert [reply_text(c) for c in cells if isinstance(c, Block)] == ["Paris.", "The capital is Paris."]

    at.text_input(key=f"tr-title-{cid}").set_value("Capitals of Europe").run()
    at.text_area(key=f"tr-notes-{cid}").set_value("Both lanes agree.").run()
    assert not at.exception
    saved = seed.get(cid)
    assert (saved.title, saved.notes) == ("Capitals of Europe", "Both lanes agree.")

    at.sidebar.text_input(key="tr-query").set_value("agree").run()  # a new search shows its results
    assert hits(at) == ["Capitals of Europe"]  # the notes are searchable at once
    _open(at, cid).button(key="tr-back").click().run()
    assert hits(at) == ["Capitals of Europe"] and at.sidebar.text_input(key="tr-query").value == "agree"


@pytest.mark.model
def test_the_address_opens_a_conversation_and_follows_the_open_one(app: AppTest, seed: Seed) -> None:
    first, _ = seed.conversation("Capitals", "What is the capital of France?", ["Paris.", "Paris, of course."])
    second, _ = seed.conversation("Colours", "Name a colour", ["Blue", "Teal"])
    app.query_params["conversation"] = str(second)  # a link to the transcript, or a reload
    at = transcripts(app)
    assert at.text_input(key=f"tr-title-{second}").value == "Colours"
    at.button(key="tr-back").click().run()
    assert "conversation" not in at.query_params and set(hits(at)) == {"Capitals", "Colours"}
    assert _open(at, first).query_params["conversation"] == str(first)


@pytest.mark.model
def test_an_address_naming_no_conversation_says_so(app: AppTest, seed: Seed) -> None:
    seed.conversation("Capitals", "What is the capital of France?", ["Paris.", "Paris, of course."])
    app.query_params["conversation"] = "999"
    at = transcripts(app)
    assert [w.value for w in at.warning] == ["Conversation #999 no longer exists."]
    assert "conversation" not in at.query_params
    assert hits(transcripts(at)) == ["Capitals"]


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


def _download(at: AppTest, media: list[MediaFileManager], fmt: str) -> tuple[str, str]:
    """What pressing a download button serves: (file name, text), generated as the server generates it."""
    [button] = [b for b in at.main.get("download_button") if b.key == f"tr-download-{fmt}"]
    url = media[-1].execute_deferred(button.proto.deferred_file_id)
    served = media[-1].read_file(url.rsplit("/", 1)[1].split(".")[0])
    assert served is not None and served.filename is not None
    return served.filename, served.content.decode("utf-8")


@pytest.mark.model
def test_every_download_serves_its_format(app: AppTest, seed: Seed, media: list[MediaFileManager]) -> None:
    cid, replies = seed.conversation("Colours", "Name a colour", ["Blue", "Green", "Teal"], models=("base", "chat"))
    seed.annotate(replies[0], rating=1, tags=("in-character",), note="crisp")
    seed.annotate(replies[2], rating=-1)
    at = _open(transcripts(app), cid)

    name, markdown = _download(at, media, "md")
    assert name == f"conversation-{cid}.md"
    assert markdown.startswith("# Colours\n") and "## Lane 1: base@assistant" in markdown and "crisp" in markdown

    name, text = _download(at, media, "json")
    assert name == f"conversation-{cid}.json"
    data = repo.load_export_bytes(text.encode(), name)
    with Session(seed.engine) as s:
        assert data == json.loads(json.dumps(repo.export_conversation(session=s, conversation_id=cid)))

    name, jsonl = _download(at, media, "jsonl")
    lines = [json.loads(line) for line in jsonl.splitlines()]
    assert name == f"conversation-{cid}.jsonl" and len(lines) == 2
    assert all(set(line) == {"messages"} and line["messages"][-1]["role"] == "assistant" for line in lines)

    name, dpo = _download(at, media, "dpo")
    assert name == f"conversation-{cid}.dpo.jsonl"
    assert [json.loads(line) for line in dpo.splitlines()] == [
        {"prompt": "Name a colour", "chosen": "Blue", "rejected": "Teal"}
    ]


@pytest.mark.model
def test_continue_in_compare_opens_the_conversation_there(app: AppTest, seed: Seed) -> None:
    cid, _ = seed.conversation("Capitals", "What is the capital of France?", ["Paris.", "Paris, of course."])
    at = _open(transcripts(app), cid)
    at.button(key="tr-continue").click().run()
    assert not at.exception
    assert at.chat_input[0].placeholder == "Message every lane"  # the Compare page, with this conversation
    cell = at.main.get_by_key("reply-1-0")
    assert isinstance(cell, Block) and reply_text(cell) == "Paris, of course."


# -- import ----------------------------------------------------------------------------------------------


def _upload(at: AppTest, name: str, content: bytes) -> AppTest:
    at.sidebar.file_uploader[0].set_value((name, content, "application/json")).run()
    assert not at.exception
    return at


def _export_bytes(seed: Seed, conversation_id: int) -> bytes:
    with Session(seed.engine) as s:
        return json.dumps(repo.export_conversation(session=s, conversation_id=conversation_id)).encode()


@pytest.mark.model
def test_importing_a_file_opens_the_new_conversation(app: AppTest, seed: Seed) -> None:
    cid, _ = seed.conversation("Original", "Hi", ["Hello there"], models=("base",))
    exported = _export_bytes(seed, cid)
    at = _upload(transcripts(app), "original.json", exported)
    assert not at.error
    assert seed.conversations() == 2
    new_id = cid + 1
    assert at.text_input(key=f"tr-title-{new_id}").value == "Original"
    cell = at.main.get_by_key("tr-reply-0-0")
    assert isinstance(cell, Block) and reply_text(cell) == "Hello there"
    assert at.sidebar.file_uploader[0].value in (None, [])  # emptied: a rerun does not import it again
    at.run()
    assert seed.conversations() == 2


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (lambda good: good[: len(good) // 2], "is not valid JSON: .* the file ends early: is it truncated\\?"),
        (lambda good: good.replace(b'"version": 1', b'"version": 9'), "export version 9 is not supported"),
        (lambda good: good.replace(b'"role": "user"', b'"role": "narrator"'), "role: .*got 'narrator'"),
    ],
    ids=["truncated", "wrong version", "unknown role"],
)
def test_a_broken_file_shows_one_error_and_imports_nothing(
    app: AppTest, seed: Seed, content: Any, problem: str
) -> None:
    cid, _ = seed.conversation("Original", "Hi", ["Hello there"], models=("base",))
    at = _upload(transcripts(app), "broken.json", content(_export_bytes(seed, cid)))
    [error] = at.error
    message = _plain(error.value)
    assert message.startswith("Import failed: broken.json") and re.search(problem, message), message
    assert seed.conversations() == 1
    assert hits(at) == ["Original"]  # still the list: nothing was opened
    at.run()
    assert not at.error  # shown once, not on every rerun


def _with(path: str, value: Any) -> Any:
    def change(good: bytes) -> bytes:
        data = json.loads(good)
        *keys, last = path.split(".")
        target = data
        for key in keys:
            target = target[int(key)] if key.isdigit() else target[key]
        target[last] = value
        return json.dumps(data).encode()

    return change


def _padded_past(limit: int) -> Any:
    return lambda good: good + b" " * (limit + 1 - len(good))


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (_with("lanes.0.temperature", 50), r"lanes\[0\] \(id \d+\)\.temperature: .*less than or equal to 2"),
        (_with("lanes.0.max_tokens", 10_000_000), r"max_tokens: .*less than or equal to 4096"),
        (_with("lanes.0.mask_snapshot", {"foo": 1}), r"mask_snapshot\.name: Field required"),
        (_with("messages.1.tokens", [5, [], "x"]), r"messages\[1\] \(id \d+\)\.tokens\[0\]: A token is"),
        (_with("lanes.0.seed", 2**70), r"seed: Input should be less than or equal to 9223372036854775807"),
        (lambda good: b"[" * 1_000_000, "nests objects and lists more than 64 levels deep"),
        (lambda good: b'{"a": ' * 5000 + b"1" + b"}" * 5000, "nests objects and lists more than 64 levels deep"),
        (_padded_past(1024 * 1024), "is 1 MB; imports are limited to 1 MB"),
    ],
    ids=[
        "temperature 50",
        "max_tokens 1e7",
        "odd mask snapshot",
        "broken tokens",
        "seed 2**70",
        "a million [",
        "5000 deep object",
        "over the limit",
    ],
)
def test_a_file_that_would_fail_later_is_refused_with_one_error(
    app: AppTest, seed: Seed, monkeypatch: pytest.MonkeyPatch, content: Any, problem: str
) -> None:
    monkeypatch.setattr("storage.imports.MAX_IMPORT_BYTES", 1024 * 1024)  # the same check as 200 MB, smaller
    cid, _ = seed.conversation("Original", "Hi", ["Hello there"], models=("base",))
    at = _upload(transcripts(app), "broken.json", content(_export_bytes(seed, cid)))
    [error] = at.error
    message = _plain(error.value)
    assert message.startswith("Import failed: broken.json") and re.search(problem, message), message
    assert seed.conversations() == 1
    assert hits(at) == ["Original"]


# -- hostile text ----------------------------------------------------------------------------------------


def _all_markdown(node: Block) -> Iterator[Markdown]:
    for child in node.children.values():
        if isinstance(child, Block):
            yield from _all_markdown(child)
        elif isinstance(child, Markdown):
            yield child


def _assert_no_live_markup(at: AppTest) -> None:
    """No Markdown element may carry raw HTML: every `<` is escaped and HTML is never allowed."""
    for root in (at.main, at.sidebar):
        for element in _all_markdown(root):
            assert not element.proto.allow_html, element.value
            assert not re.search(r"(?<!\\)<", element.value), element.value
    assert not at.get("html")


@pytest.mark.model
def test_html_and_script_show_as_text(app: AppTest, seed: Seed) -> None:
    cid, [reply] = seed.conversation(
        BOLD_TAG, "Say something", [f"walrus {HOSTILE} https://evil.example"], models=("base",)
    )
    seed.annotate(reply, tags=(BOLD_TAG,), note=f"walrus note {HOSTILE} {BOLD_TAG}")
    with Session(seed.engine) as s:
        repo.set_notes(session=s, conversation_id=cid, notes=f"{HOSTILE}\n{BOLD_TAG}")
    at = transcripts(app)
    at.sidebar.text_input(key="tr-query").set_value("alert").run()
    assert hits(at) == [BOLD_TAG]
    [hit] = keyed_blocks(at.main, "tr-hit-")
    assert _plain(hit.markdown[1].value) == f"walrus <script>{'alert'}(1)</script> https://evil.example"
    assert "**alert**" in hit.markdown[1].value  # the one bold: the match
    assert "://" not in hit.markdown[1].value.replace("\\", "")  # no autolink either
    assert at.sidebar.selectbox(key="tr-tag").options == ["any", BOLD_TAG]
    _assert_no_live_markup(at)

    at = _open(at, cid)
    assert at.text_input(key=f"tr-title-{cid}").value == BOLD_TAG
    assert at.text_area(key=f"tr-notes-{cid}").value == f"{HOSTILE}\n{BOLD_TAG}"
    cell = at.main.get_by_key("tr-reply-0-0")
    assert isinstance(cell, Block) and reply_text(cell) == f"walrus {HOSTILE} https://evil.example"
    _assert_no_live_markup(at)


def test_snippet_markdown_bolds_only_the_marked_words() -> None:
    assert snippet_markdown("a **cat** <b>") == "a **cat** \\<b\\>"
    assert snippet_markdown("**x** and **y") == "**x** and \\*\\*y"  # an unclosed mark stays literal
    assert snippet_markdown("**  ** [link](javascript:x)") == "   \\[link\\]\\(javascript\\:x\\)"
    assert snippet_markdown("") == ""


def test_an_empty_database_says_how_to_start(app: AppTest, engine: Engine) -> None:
    at = transcripts(app)
    assert at.main.info[0].value.startswith("No conversations yet")
    with Session(engine) as s:
        assert s.exec(select(func.count()).select_from(Message)).one() == 0
