# The Transcripts page on a real SQLite file seeded through repo: search, filters, pages, opening a conversation
# side by side, editing its title and notes, and every download's contents (importing is in
# test_transcripts_import.py, hostile text in test_transcripts_hostile.py). No turn runs here: the conversations
# are written the way a finished turn writes them (tests/support/transcripts.py). Opening a conversation, or any page
# but this one, asks for the model registry, whose first use loads the bundled models in a background thread
# (ui/web/resources.py): those tests are marked `model`.

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, func
from sqlmodel import Session, select
from streamlit.runtime.media_file_manager import MediaFileManager
from streamlit.testing.v1 import AppTest
from streamlit.testing.v1.element_tree import Block

from storage import repo
from storage.tables import Message
from tests.support.screen import keyed_blocks, reply_text
from tests.support.transcripts import PAGE, Seed, _open, _plain, download, hits, transcripts
from ui.service.transcripts.exports import NO_PAIRS, NO_RATINGS
from ui.web.widgets.view import escape_markdown

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


def test_an_empty_database_says_how_to_start(app: AppTest, engine: Engine) -> None:
    at = transcripts(app)
    assert at.main.info[0].value.startswith("No conversations yet")
    with Session(engine) as s:
        assert s.exec(select(func.count()).select_from(Message)).one() == 0


# -- one conversation ------------------------------------------------------------------------------------


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


@pytest.mark.model
def test_every_download_serves_its_format(app: AppTest, seed: Seed, media: list[MediaFileManager]) -> None:
    cid, replies = seed.conversation("Colours", "Name a colour", ["Blue", "Green", "Teal"], models=("base", "chat"))
    seed.annotate(replies[0], rating=1, tags=("in-character",), note="crisp")
    seed.annotate(replies[2], rating=-1)
    at = _open(transcripts(app), cid)

    name, markdown = download(at, media, "md")
    assert name == f"conversation-{cid}.md"
    assert markdown.startswith("# Colours\n") and "## Lane 1: base@assistant" in markdown and "crisp" in markdown

    name, text = download(at, media, "json")
    assert name == f"conversation-{cid}.json"
    assert repo.load_export_bytes(text.encode(), name).conversation.title == "Colours"  # it imports
    with Session(seed.engine) as s:
        assert json.loads(text) == json.loads(json.dumps(repo.export_conversation(session=s, conversation_id=cid)))

    name, jsonl = download(at, media, "jsonl")
    lines = [json.loads(line) for line in jsonl.splitlines()]
    assert name == f"conversation-{cid}.jsonl" and len(lines) == 2
    assert all(set(line) == {"messages"} and line["messages"][-1]["role"] == "assistant" for line in lines)

    name, dpo = download(at, media, "dpo")
    assert name == f"conversation-{cid}.dpo.jsonl"
    assert [json.loads(line) for line in dpo.splitlines()] == [
        {"prompt": "Name a colour", "chosen": "Blue", "rejected": "Teal"}
    ]


@pytest.mark.model
def test_an_empty_dpo_download_says_why(app: AppTest, seed: Seed, media: list[MediaFileManager]) -> None:
    cid, replies = seed.conversation("Colours", "Name a colour", ["Blue", "Green"], models=("base", "chat"))
    at = _open(transcripts(app), cid)
    assert download(at, media, "dpo")[1] == ""
    assert [c.value for c in at.main.caption if "DPO" in c.value] == [escape_markdown(f"N{NO_RATINGS[1:]}.")]

    seed.annotate(replies[0], rating=1)
    at.run()
    assert [c.value for c in at.main.caption if "DPO" in c.value] == [escape_markdown(f"N{NO_PAIRS[1:]}.")]

    seed.annotate(replies[1], rating=-1)
    at.run()
    assert download(at, media, "dpo")[1] and not [c for c in at.main.caption if "DPO" in c.value]


@pytest.mark.model
def test_continue_in_compare_opens_the_conversation_there(app: AppTest, seed: Seed) -> None:
    cid, _ = seed.conversation("Capitals", "What is the capital of France?", ["Paris.", "Paris, of course."])
    at = _open(transcripts(app), cid)
    at.button(key="tr-continue").click().run()
    assert not at.exception
    assert at.chat_input[0].placeholder == "Message every lane"  # the Compare page, with this conversation
    cell = at.main.get_by_key("reply-1-0")
    assert isinstance(cell, Block) and reply_text(cell) == "Paris, of course."
