# The whole review loop in one AppTest session, as a user goes through it: a real turn on Compare, a tag and
# a rating, then on Transcripts: find it by a word of the reply, open it, regenerate a reply and step between
# the siblings, and download every export format.

from __future__ import annotations

import json
import re

import pytest
from streamlit.runtime.media_file_manager import MediaFileManager
from streamlit.testing.v1 import AppTest
from streamlit.testing.v1.element_tree import Block

from storage import repo
from tests.support.screen import captions, cell, one_turn, reply_text
from tests.support.transcripts import PAGE, download, hits

pytestmark = pytest.mark.model

LANE = 0  # base@raw among the default lanes: without a mask, two samples rarely say the same


def test_turn_tag_search_open_regenerate_anddownload(app: AppTest, media: list[MediaFileManager]) -> None:
    at = one_turn(app, temperature=1.0)
    reply = reply_text(cell(at, LANE))
    word = max(re.findall(r"[A-Za-z]{4,}", reply), key=len)

    prefix = f"lane{LANE}-turn0-annotate-new"
    at.multiselect(key=f"{prefix}-tags").set_value(["in-character"])
    at.radio(key=f"{prefix}-rating").set_value("+1")
    next(b for b in cell(at, LANE).button if b.label == "Add annotation").click().run()
    assert not at.exception

    at.switch_page(PAGE).run()
    at.sidebar.text_input(key="tr-query").set_value(word).run()
    assert hits(at) == ["What is the capital of France?"]
    [open_button] = [b for b in at.main.button if (b.key or "").startswith("tr-open-")]
    open_button.click().run()
    assert not at.exception and not at.error
    opened = at.main.get_by_key(f"tr-reply-{LANE}-0")
    assert isinstance(opened, Block) and reply_text(opened) == reply
    assert any("in\\-character" in m.value for m in opened.markdown)  # the tag shows here too

    at.button(key=f"tr-lane{LANE}-turn0-regenerate").click().run(timeout=120)
    assert not at.exception and not at.error
    regenerated = at.main.get_by_key(f"tr-reply-{LANE}-0")
    assert isinstance(regenerated, Block) and "2/2" in captions(regenerated)
    second = reply_text(regenerated)
    at.radio(key=f"tr-{prefix}-rating").set_value("−1")
    next(b for b in regenerated.button if b.label == "Add annotation").click().run()
    at.button(key=f"tr-lane{LANE}-turn0-prev").click().run()
    back = at.main.get_by_key(f"tr-reply-{LANE}-0")
    assert isinstance(back, Block) and "1/2" in captions(back) and reply_text(back) == reply

    name, markdown = download(at, media, "md")
    assert name.endswith(".md") and "in-character" in markdown and reply.strip() in markdown
    _, exported = download(at, media, "json")
    data = repo.load_export_bytes(exported.encode(), "export.json")
    assert sum(1 for m in data.messages if m.role == "model" and m.lane_id == data.lanes[LANE].id) == 2
    _, jsonl = download(at, media, "jsonl")
    assert all(set(json.loads(line)) == {"messages"} for line in jsonl.splitlines())
    _, dpo = download(at, media, "dpo")
    # The +1 reply is preferred to the −1 sibling (unless both happened to say the same).
    expected = (
        [] if second == reply else [{"prompt": "What is the capital of France?", "chosen": reply, "rejected": second}]
    )
    assert [json.loads(line) for line in dpo.splitlines()] == expected
