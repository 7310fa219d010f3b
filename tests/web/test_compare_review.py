# The Compare page after a real turn: annotate a reply, regenerate it and step between the siblings, edit
# the user's message into a new branch, and draw samples into a grid. Real models, a fresh SQLite file.

from __future__ import annotations

import re

import pytest
from streamlit.testing.v1 import AppTest
from streamlit.testing.v1.element_tree import Block

from tests.support.screen import QUESTION, captions, cell, keyed_blocks, one_turn, reply_text

pytestmark = pytest.mark.model

BASE = 1  # the default lanes: base@raw, base@assistant, chat


def test_annotate_a_reply_then_edit_and_delete_the_annotation(app: AppTest) -> None:
    at = one_turn(app)
    prefix = f"lane{BASE}-turn0-annotate-new"
    at.multiselect(key=f"{prefix}-tags").set_value(["in-character", "self-report"])
    at.text_input(key=f"{prefix}-free").set_value("<b>bold</b>, mine")
    at.radio(key=f"{prefix}-rating").set_value("+1")
    at.text_area(key=f"{prefix}-note").set_value("<script>alert(1)</script> **not bold**")
    next(b for b in cell(at, BASE).button if b.label == "Add annotation").click().run()
    assert not at.exception

    badges = " ".join(m.value for m in cell(at, BASE).markdown)
    for tag in ("in\\-character", "self\\-report", "\\<b\\>bold\\<\\/b\\>", "mine", "rating +1"):
        assert tag in badges, badges
    assert "\\<script\\>alert\\(1\\)\\<\\/script\\> \\*\\*not bold\\*\\*" in captions(cell(at, BASE))

    edit = next(t for t in cell(at, BASE).toggle if (t.key or "").startswith(f"lane{BASE}-turn0-annotate-edit-"))
    edit.set_value(True).run()
    annotation_id = (edit.key or "").rsplit("-", 1)[1]
    form = f"lane{BASE}-turn0-annotate-form-{annotation_id}"
    at.multiselect(key=f"{form}-tags").set_value(["refused"])
    at.radio(key=f"{form}-rating").set_value("−1")
    next(b for b in cell(at, BASE).button if b.label == "Save").click().run()
    badges = " ".join(m.value for m in cell(at, BASE).markdown)
    assert "refused" in badges and "rating −1" in badges and "in\\-character" not in badges, badges

    at.button(key=f"lane{BASE}-turn0-annotate-delete-{annotation_id}").click().run()
    assert "refused" not in " ".join(m.value for m in cell(at, BASE).markdown)


def test_regenerate_and_step_between_siblings(app: AppTest) -> None:
    at = one_turn(app, temperature=1.0)
    first = reply_text(cell(at, BASE))
    at.button(key=f"lane{BASE}-turn0-regenerate").click().run(timeout=120)
    assert not at.exception and not at.error
    assert "2/2" in captions(cell(at, BASE))
    second = reply_text(cell(at, BASE))
    at.button(key=f"lane{BASE}-turn0-prev").click().run()
    assert "1/2" in captions(cell(at, BASE))
    assert reply_text(cell(at, BASE)) == first
    at.button(key=f"lane{BASE}-turn0-next").click().run()
    assert reply_text(cell(at, BASE)) == second
    # The other lanes kept their single reply.
    assert not any(re.fullmatch(r"\d+/\d+", c) for c in captions(cell(at, 0)))


def test_an_edited_message_becomes_a_new_branch(app: AppTest) -> None:
    at = one_turn(app)
    at.text_area(key="user-0-edit-text").set_value("What is the capital of Italy?")
    at.button(key="user-0-edit-send").click().run(timeout=180)
    assert not at.exception and not at.error
    users = [t.value for m in at.main.chat_message if m.name == "user" for t in m.text]
    assert users == ["What is the capital of Italy?"]
    assert "Italy" in reply_text(cell(at, BASE)) and "Paris" not in reply_text(cell(at, BASE))
    at.button(key="user-0-prev").click().run()
    assert [t.value for m in at.main.chat_message if m.name == "user" for t in m.text] == [QUESTION]
    assert "Paris" in reply_text(cell(at, BASE))


def test_four_samples_show_as_a_grid_with_four_seeds(app: AppTest) -> None:
    at = one_turn(app, temperature=1.0)
    raw = 0  # no mask: the widest spread of continuations
    at.number_input(key=f"lane{raw}-turn0-samples-n").set_value(4)
    at.button(key=f"lane{raw}-turn0-samples-go").click().run(timeout=180)
    assert not at.exception and not at.error
    grid = keyed_blocks(at.main, "sample-")
    assert len(grid) == 5, [b.key for b in grid]  # the first reply, then the four samples
    seeds = {c.value.rsplit("seed ", 1)[1] for block in grid[1:] for c in block.caption if "seed " in c.value}
    texts = {reply_text(block) for block in grid[1:]}
    assert len(seeds) == 4 and len(texts) == 4, (seeds, texts)
    assert "5/5" in captions(cell(at, raw))  # the newest sample is the one the path follows


def test_token_view_then_branch_from_a_token(app: AppTest) -> None:
    at = one_turn(app)
    original = reply_text(cell(at, BASE))
    at.toggle(key=f"lane{BASE}-turn0-tokens").set_value(True).run()
    panel = at.main.get_by_key(f"tokens-{BASE}-0")
    assert isinstance(panel, Block)
    assert any("background[" in m.value for m in panel.markdown)  # tokens coloured by probability
    at.number_input(key=f"lane{BASE}-turn0-tv-pick").set_value(2).run()
    branch = [b for b in at.main.button if (b.key or "").startswith(f"lane{BASE}-turn0-tv-branch-2-")]
    assert branch, "no alternatives to branch with at token #2"
    branch[0].click().run(timeout=120)
    assert not at.exception and not at.error
    assert "2/2" in captions(cell(at, BASE))
    assert any(c.startswith("branched from reply #") and c.endswith("at token #2") for c in captions(cell(at, BASE)))
    assert reply_text(cell(at, BASE)) != original
