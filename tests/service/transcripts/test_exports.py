# OpenAI JSONL from the service: a chat lane's line is the exact message list stored with its reply (what the
# model was sent, mask and all), and a reply saved without one gets its opening by the chat lane's own rule.

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from personas.catalog import load_mask
from simulator.registry import Registry
from simulator.values import SamplingSettings
from storage import repo
from storage.db import make_engine
from ui.service.conversations.service import Conversations, LaneSpec
from ui.service.transcripts.exports import to_jsonl
from ui.service.transcripts.service import Transcripts

GREEDY = SamplingSettings(temperature=0.0, max_tokens=8, seed=1)


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'simulacra.db'}")
    yield engine
    engine.dispose()


def jsonl_lines(transcripts: Transcripts, conversation_id: int) -> list[dict[str, Any]]:
    return [json.loads(line) for line in transcripts.export([conversation_id], "jsonl").splitlines()]


@pytest.mark.model
def test_a_chat_lanes_line_is_the_message_list_it_was_sent(engine: Engine, registry: Registry) -> None:
    service = Conversations(engine, registry)
    cid = service.create([LaneSpec(model="chat", mask="customer-support", settings=GREEDY)])
    for text in ("Ahoy! Who are you?", "Where is the treasure?"):
        [final] = [u for u in service.send(cid, text) if u.event.kind in ("done", "error")]
        assert final.reply.status == "complete", final.reply.error
    [turn_1, turn_2] = service.path(cid)
    reply = turn_2.replies[service.lanes(cid)[0].id or 0]
    sent = reply.prompt
    assert isinstance(sent, list) and sent[0]["role"] == "system"

    [line] = jsonl_lines(Transcripts(engine), cid)
    assert line["messages"] == [*sent, {"role": "assistant", "content": reply.content}]
    # The mask's system prompt as the model got it: not the raw frame, which the old export wrote.
    assert line["messages"][0] == sent[0] != {"role": "system", "content": load_mask("customer-support").frame}


@pytest.mark.parametrize(
    ("system_prompt", "mask", "expected"),
    [
        ("Be brief.", "customer-support", "Be brief."),  # the lane's own system prompt replaces the mask's
        (None, "assistant", "mask"),  # the mask's system message, as Mask.as_messages writes it
        (None, None, None),  # no mask, no prompt: no system message
    ],
)
def test_a_reply_without_a_stored_prompt_opens_by_the_chat_lane_rule(
    engine: Engine, system_prompt: str | None, mask: str | None, expected: str | None
) -> None:
    snapshot = load_mask(mask).model_dump(mode="json", exclude={"card_image"}) if mask else None
    with Session(engine) as s:
        cid = repo.create_conversation(session=s).id or 0
        lane = repo.add_lane(
            session=s,
            conversation_id=cid,
            position=0,
            label="chat",
            kind="chat",
            model="chat",
            mask_name=mask,
            mask_snapshot=snapshot,
            system_prompt=system_prompt,
            settings=GREEDY,
        )
        user = repo.add_user_message(session=s, conversation_id=cid, parent_id=None, content="Hi")
        reply = repo.start_reply(session=s, conversation_id=cid, lane_id=lane.id or 0, parent_id=user.id, prompt="")
        repo.finish_reply(
            session=s,
            message_id=reply.id or 0,
            content="Hello",
            tokens=None,
            status="complete",
            finish_reason="stop",
            error=None,
            ttft_ms=None,
            total_ms=None,
            tokens_per_s=None,
        )
    [line] = [json.loads(text) for text in to_jsonl(repo_export(engine, cid)).splitlines()]
    system = [m["content"] for m in line["messages"] if m["role"] == "system"]
    if expected == "mask":
        assert mask is not None
        expected = load_mask(mask).as_messages([])[0]["content"]
    assert system == ([expected] if expected else [])
    assert line["messages"][-2:] == [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]


def repo_export(engine: Engine, conversation_id: int) -> dict[str, Any]:
    with Session(engine) as s:
        return repo.export_conversation(session=s, conversation_id=conversation_id)
