# Hostile text on the Transcripts page: HTML, scripts and links in titles, notes, tags, replies and search
# snippets are shown as text, never as markup, and a snippet's only bold is the match. Opening a conversation asks
# for the model registry, whose first use loads the bundled models in a background thread (ui/web/resources.py):
# that test is marked `model`.

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from sqlmodel import Session
from streamlit.testing.v1 import AppTest
from streamlit.testing.v1.element_tree import Block, Markdown

from storage import repo
from tests.support.screen import keyed_blocks, reply_text
from tests.support.transcripts import Seed, _open, _plain, hits, transcripts
from ui.web.views.transcripts import snippet_markdown

HOSTILE = "<script>alert(1)</script>"
BOLD_TAG = "<b>x</b>"


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
