# Markdown, OpenAI chat JSONL and DPO pairs made from a real export, line by line.

import json
from collections.abc import Callable
from typing import Any

import pytest
from sqlmodel import Session

from storage import exports, repo
from storage.imports import LaneRow
from storage.tables import Lane
from tests.support.factories import id_of


class Builder:
    """Writes a conversation through repo, the way the Compare page does."""

    def __init__(self, session: Session, make_lane: Callable[..., Lane], title: str = "Demo") -> None:
        self.session = session
        self.make_lane = make_lane
        self.cid = id_of(repo.create_conversation(session=session, title=title).id)
        self.lanes = 0

    def lane(self, **settings: Any) -> int:
        self.lanes += 1
        return id_of(self.make_lane(self.cid, self.lanes - 1, **settings).id)

    def user(self, content: str, parent: int | None = None) -> int:
        s = self.session
        return id_of(repo.add_user_message(session=s, conversation_id=self.cid, parent_id=parent, content=content).id)

    def reply(self, lane: int, parent: int, content: str, status: str = "complete", rating: int | None = None) -> int:
        s = self.session
        reply = repo.start_reply(session=s, conversation_id=self.cid, lane_id=lane, parent_id=parent, prompt="")
        repo.finish_reply(
            session=s,
            message_id=id_of(reply.id),
            content=content,
            tokens=None,
            status=status,  # type: ignore[arg-type]
            finish_reason=None,
            error="boom" if status == "error" else None,
            ttft_ms=None,
            total_ms=None,
            tokens_per_s=None,
        )
        if rating is not None:
            repo.add_annotation(session=s, message_id=reply.id, rating=rating)
        return id_of(reply.id)

    def export(self) -> dict[str, Any]:
        return repo.export_conversation(session=self.session, conversation_id=self.cid)


def lane_system_prompt(lane: LaneRow) -> list[dict[str, str]]:
    """A stand-in for the chat-lane rule (ui.service.transcripts.exports has the real one, with masks): storage only
    decides where the opening goes."""
    return [{"role": "system", "content": lane.system_prompt}] if lane.system_prompt else []


def _lines(text: str) -> list[Any]:
    assert text == "" or text.endswith("\n")
    return [json.loads(line) for line in text.splitlines()]


@pytest.fixture
def build(session: Session, make_lane: Callable[..., Lane]) -> Callable[..., Builder]:
    return lambda title="Demo": Builder(session, make_lane, title)


def test_jsonl_has_one_line_per_lane_and_path(build: Callable[..., Builder]) -> None:
    b = build()
    base = b.lane(label="Base")
    chat = b.lane(label="Chat", kind="chat", model="openai/gpt-4o-mini", system_prompt="Be brief.")
    first = b.user("Hi")
    b.reply(base, first, "Hello (first try)")
    b.reply(base, first, "Hello")
    b.reply(chat, first, "Hi!")
    second = b.user("How are you?", first)
    b.reply(base, second, "Fine.")
    b.reply(chat, second, "", status="error")
    edited = b.user("Who are you?", first)
    b.reply(chat, edited, "A chat model.")

    lines = _lines(exports.to_jsonl(b.export(), lane_system_prompt))
    assert lines == [
        {
            "messages": [
                {"role": "user", "content": "Hi"},
                {"role": "assistant", "content": "Hello"},
                {"role": "user", "content": "How are you?"},
                {"role": "assistant", "content": "Fine."},
            ]
        },
        {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]},
        {
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "Hi"},
                {"role": "assistant", "content": "Hi!"},
            ]
        },  # the error reply and its turn are dropped
        {
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "Hi"},
                {"role": "assistant", "content": "Hi!"},
                {"role": "user", "content": "Who are you?"},
                {"role": "assistant", "content": "A chat model."},
            ]
        },
    ]


def test_dpo_pairs_from_siblings_and_other_lanes(build: Callable[..., Builder]) -> None:
    b = build()
    base, chat = b.lane(label="Base"), b.lane(label="Chat", kind="chat")
    question = b.user("Name a colour")
    b.reply(base, question, "Blue", rating=1)
    b.reply(base, question, "Asdf", rating=-1)
    b.reply(chat, question, "Green", rating=0)
    b.reply(chat, question, "Teal")  # not rated: in no pair
    b.reply(chat, question, "", status="error", rating=-1)  # errors are left out
    later = b.user("Another", question)
    tie = b.reply(base, later, "One", rating=1)
    b.reply(chat, later, "Two", rating=1)  # same rating: no pair
    repo.add_annotation(session=b.session, message_id=tie, rating=-1)  # ...until re-rated: the latest counts
    pairs = _lines(exports.to_dpo(b.export()))
    assert pairs == [
        {"prompt": "Name a colour", "chosen": "Blue", "rejected": "Asdf"},
        {"prompt": "Name a colour", "chosen": "Blue", "rejected": "Green"},
        {"prompt": "Name a colour", "chosen": "Green", "rejected": "Asdf"},
        {"prompt": "Another", "chosen": "Two", "rejected": "One"},
    ]


def test_markdown_reads_like_a_transcript(build: Callable[..., Builder]) -> None:
    b = build("Masks & models")
    base = b.lane(label="Base · Assistant", mask_name="assistant", mask_snapshot={"frame": "An AI."})
    chat = b.lane(label="Chat", kind="chat", model="openai/gpt-4o-mini", system_prompt="Be brief.", seed=None)
    first = b.user("Hello?")
    old = b.reply(base, first, "Old reply")
    b.reply(base, first, "**Hi** there", rating=1)
    b.reply(chat, first, "", status="error")
    repo.add_annotation(session=b.session, message_id=old, tags=["rambling"], note="went on\nand on")
    repo.add_annotation(session=b.session, conversation_id=b.cid, note="Compare the two")
    b.user("Second", first)
    branch = b.user("Newest branch", first)
    b.reply(chat, branch, "On the branch")
    md = exports.to_markdown(b.export())

    assert md.startswith("# Masks & models\n")
    assert "## Lane 1: Base · Assistant" in md and "## Lane 2: Chat" in md
    assert "- Model: `gemma-3-270m`" in md and "- Mask: assistant" in md and "- System prompt: Be brief." in md
    assert "temperature 0, top_p 1, top_k 40, max_tokens 64, seed 1" in md and "no seed" in md
    assert "**Hi** there\n\n> **Annotation**: rating +1" in md
    assert "Base · Assistant (earlier reply 1 of 1, regenerated)" in md
    assert "> **Annotation**: tags `rambling`\n>\n> went on\n> and on" in md
    assert "**Chat:** _(error: boom)_" in md
    assert "Compare the two" in md
    # The current path follows the newest branch; the other one is kept below.
    lane_two = md[md.index("## Lane 2") :]
    assert lane_two.index("Newest branch") < lane_two.index("On the branch") < lane_two.index("## Other branches")
    assert "Second" in md[md.index("## Other branches") :]


def test_exports_refuse_what_is_not_an_export() -> None:
    with pytest.raises(repo.ImportError_, match="format"):
        exports.to_markdown({"format": "other"})


def test_line_separators_inside_text_stay_escaped(build: Callable[..., Builder]) -> None:
    b = build()
    lane = b.lane(kind="chat")
    user = b.user("one\u2028two\x85three\u2029")
    b.reply(lane, user, "a\nb", rating=1)
    b.reply(lane, user, "c\u2028d", rating=-1)
    for text in (exports.to_jsonl(b.export(), lane_system_prompt), exports.to_dpo(b.export())):
        [line] = _lines(text)
        assert "one\u2028two\x85three\u2029" in json.dumps(line, ensure_ascii=False)


def test_json_has_one_row_per_line_and_reads_back(build: Callable[..., Builder]) -> None:
    b = build("Tokens\u2028and lines")
    lane = b.lane(label="Base")
    user = b.user("Hi\nthere")
    reply = b.reply(lane, user, "Hello", rating=1)
    repo.update_reply(session=b.session, message_id=reply, content="x", tokens=None)  # finished: left alone
    export = b.export()
    text = exports.to_json(export)
    assert json.loads(text) == export
    assert text.endswith("}\n") and text.count("\n") == len(text.splitlines())  # no raw line separator inside
    rows = [json.loads(line.strip().rstrip(",")) for line in text.splitlines() if line.startswith("    {")]
    assert rows == export["lanes"] + export["messages"] + export["annotations"]  # each row is exactly one line
    both = exports.to_json([export, export])
    assert json.loads(both) == [export, export] and both.startswith('[\n  {\n    "format"')
