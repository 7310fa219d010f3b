# Text that came from a model, an import or a shared file and is drawn as Markdown (a caption, a widget's label)
# reads as itself: no image, link, HTML or Streamlit directive. The Markdown is rendered here by a real CommonMark
# parser with raw HTML passed through (markdown-it-py), so anything left unescaped comes out as a tag.

from __future__ import annotations

import html
import re
from pathlib import Path

import pytest
from markdown_it import MarkdownIt
from streamlit.testing.v1 import AppTest

from simulator.events import Timings
from tests.support.review import save_conversation  # noqa: E402
from ui.service.workspace import open_database
from ui.web.widgets.view import WORD_JOINER, caption_for, escape_markdown

BEACON = "![t](http://127.0.0.1:9/x) <img src=http://127.0.0.1:9/y> [j](javascript:alert(1))"
HOSTILE = [
    BEACON,
    "<a href='http://127.0.0.1:9/z'>z</a> <script>alert(1)</script>",
    "[ref]: http://127.0.0.1:9/ref\n[ref]",
    "<http://127.0.0.1:9/auto> http://127.0.0.1:9/bare a@b.example www.example.com",
    ":red[x] :material/home: :blue-badge[y] $x^2$",
    "# heading\n- item\n> quote\n1. one",
    "**bold** _it_ `code` ~~gone~~ \\*",
]
_COMMONMARK = MarkdownIt("commonmark")


def _html(markdown: str) -> str:
    return _COMMONMARK.render(markdown)


def tags(markdown: str) -> set[str]:
    return set(re.findall(r"<([a-z0-9]+)", _html(markdown)))


def shown(markdown: str) -> str:
    """What a reader sees: the rendered text without tags, entities decoded, invisible word joiners gone."""
    text = html.unescape(re.sub(r"<[^>]+>", "", _html(markdown)))
    return text.replace(WORD_JOINER, "").strip()


@pytest.mark.parametrize("text", HOSTILE)
def test_escaped_text_reads_as_itself(text: str) -> None:
    markdown = escape_markdown(text)
    assert tags(markdown) == {"p"}, _html(markdown)
    assert shown(markdown) == text


def test_a_stored_finish_reason_is_text_in_the_reply_caption() -> None:
    caption = caption_for("complete", Timings(ttft_ms=1234.0, tokens_per_s=40.0), BEACON)
    assert tags(caption) == {"p"}, _html(caption)
    assert shown(caption) == f"complete · first token 1,234 ms · 40.0 tok/s · finish: {BEACON}"
    assert shown(caption_for("complete", Timings(), "length")) == "complete · finish: length"


def test_a_question_from_a_shared_set_is_a_label_not_markup(app: AppTest, data_dir: Path) -> None:
    questions = data_dir / "questions"
    questions.mkdir(parents=True)
    (questions / "shared.toml").write_text(
        f'name = "shared"\n[[questions]]\nkey = "q"\ntext = "{BEACON}"\n', encoding="utf-8"
    )
    engine = open_database(f"sqlite:///{data_dir / 'simulacra.db'}")
    try:
        save_conversation(engine)
    finally:
        engine.dispose()
    at = app.run()
    at.session_state["reviewer"] = "Ada"
    at.switch_page("views/review.py").run()
    at.selectbox(key="review-question-set").set_value("shared").run()
    assert not at.exception
    [question] = [control for control in at.segmented_control if str(control.key).endswith("-q")]
    assert tags(question.label) == {"p"}, question.label
    assert shown(question.label) == BEACON
