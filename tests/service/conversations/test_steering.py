# A steered lane through the Conversations service, on the bundled base model and real SQLite files: each reply
# records the steering it was made with; a replay and a branch steer with it again (the very vector, even after a
# newer direction takes the name), the replay token for token; a json export imports back with it, and in a
# database without that direction the replay is refused in one line, nothing saved.

from __future__ import annotations

from pathlib import Path

import pytest
from sqlmodel import Session, select

from simulator.registry import Registry
from simulator.values import SamplingSettings
from storage.db import make_engine
from storage.tables import Message
from tests.support.directions import save_direction
from tests.support.turns import finals, saved
from ui.service.conversations.service import Conversations, parse_lane_spec
from ui.service.errors import ServiceError
from ui.service.transcripts.service import Transcripts

pytestmark = pytest.mark.model

WARM = SamplingSettings(temperature=1.0, max_tokens=12)


def test_a_steered_reply_records_its_steering_and_replays_exactly(service: Conversations, registry: Registry) -> None:
    save_direction(service.vectors, registry, norm=20.0)
    seeded = WARM.model_copy(update={"seed": 3})
    lanes = [parse_lane_spec("base@assistant", seeded), parse_lane_spec("base@assistant^assistant-axis:-2:5-7", seeded)]
    cid = service.create(lanes)
    plain, original = sorted(finals(service.send(cid, "Who are you?")), key=lambda u: u.position)
    assert plain.reply.text != original.reply.text  # the steering changes what the same seed writes
    save_direction(service.vectors, registry, seed=5, norm=20.0)  # a newer direction under the same name
    [replayed] = finals(service.replay(original.message_id or 0))

    first, again = saved(service, original.message_id), saved(service, replayed.message_id)
    assert first.steering is not None and first.steering == service.lanes(cid)[1].steered
    assert (first.steering.alpha, first.steering.first_layer, first.steering.last_layer) == (-2, 5, 7)
    assert again.steering == first.steering and again.seed == first.seed
    assert [t.text for t in again.tokens] == [t.text for t in first.tokens] and again.content.strip()

    [branched] = finals(service.branch(original.message_id or 0, 2, first.tokens[2]))
    branch = saved(service, branched.message_id)
    assert branch.steering == first.steering and branch.content.startswith(first.tokens[0].text)


def test_an_imported_steered_lane_needs_its_direction(
    service: Conversations, registry: Registry, tmp_path: Path
) -> None:
    save_direction(service.vectors, registry, norm=20.0)
    cid = service.create([parse_lane_spec("base@assistant^assistant-axis:3", WARM)])
    [original] = finals(service.send(cid, "Name a colour."))
    exported = Transcripts(service.engine).export([cid], "json").encode()
    assert "steered with assistant-axis α 3 (L6)" in Transcripts(service.engine).export([cid], "md")

    copy = Transcripts(service.engine).import_bytes(exported, "copy.json")
    [reply] = list(service.path(copy)[0].replies.values())
    assert reply.steering == saved(service, original.message_id).steering
    [replayed] = finals(service.replay(reply.id))
    assert saved(service, replayed.message_id).content == saved(service, original.message_id).content

    elsewhere = make_engine(f"sqlite:///{tmp_path / 'elsewhere.db'}")
    try:
        other = Conversations(elsewhere, registry)
        moved = Transcripts(elsewhere).import_bytes(exported, "copy.json")
        [lonely] = list(other.path(moved)[0].replies.values())
        with pytest.raises(ServiceError, match=r"^the direction 'assistant-axis' this lane is steered with .* is not"):
            list(other.replay(lonely.id))
        with Session(elsewhere) as session:
            assert len(session.exec(select(Message)).all()) == 2  # the user's message and the imported reply
    finally:
        elsewhere.dispose()
