"""What an AppTest page shows, read as a person reads it; shared by the UI tests of every page."""

from __future__ import annotations

import re

from streamlit.testing.v1 import AppTest
from streamlit.testing.v1.element_tree import Block

WORD_JOINER = "\u2060"  # ui.web.widgets.view.escape_markdown's invisible guard against autolinks


def plain(markdown: str) -> str:
    """Undo the page's Markdown escaping and its invisible autolink guards."""
    return re.sub(r"\\(.)", r"\1", markdown.replace(WORD_JOINER, ""))


def keyed_blocks(node: Block, prefix: str) -> list[Block]:
    """Every container under `node` (itself included) whose key starts with `prefix`, in page order."""
    found = [node] if (node.key or "").startswith(prefix) else []
    for child in node.children.values():
        if isinstance(child, Block):
            found += keyed_blocks(child, prefix)
    return found


def reply_text(cell: Block) -> str:
    """A reply cell's text: its first plain-text element (the details popover's text comes later)."""
    return cell.text[0].value if len(cell.text) else ""


QUESTION = "What is the capital of France?"  # the Compare tests' first message


def one_turn(app: AppTest, temperature: float = 0.0) -> AppTest:
    at = app.run()
    for uid in range(3):
        at.slider(key=f"draft-{uid}-temperature").set_value(temperature)
        at.number_input(key=f"draft-{uid}-max_tokens").set_value(12)
        at.number_input(key=f"draft-{uid}-seed").set_value(1)
    at.chat_input[0].set_value(QUESTION).run(timeout=180)
    assert not at.exception and not at.error
    return at


def cell(at: AppTest, lane: int, turn: int = 0) -> Block:
    block = at.main.get_by_key(f"reply-{lane}-{turn}")
    assert isinstance(block, Block)
    return block


def captions(block: Block) -> list[str]:
    return [c.value for c in block.caption]
