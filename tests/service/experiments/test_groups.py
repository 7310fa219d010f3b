# Issue 22: an in-process lane's samples of a cell are decoded in groups of 8, every live sample in one decode
# (the fast layout, simulator.batch). Reproducible as a user can check it: each sample records its group, and a
# resume draws a group with samples missing whole again, so what it keeps is what an unbroken run drew.

from __future__ import annotations

import json

import pytest
from sqlalchemy import Engine, text

from personas.suites import parse_suite_toml
from simulator.registry import Registry
from ui.service.experiments.service import Experiments

pytestmark = pytest.mark.model

SUITE = """
name = "groups"
lanes = ["base@raw"]
samples = 8
seed = 40
[settings]
temperature = 1.0
max_tokens = 6
[[prompts]]
text = "The weather today is"
[[scorers]]
name = "sunny"
kind = "contains"
text = ["sun"]
"""


def batches(engine: Engine) -> list[dict[str, object]]:
    with engine.connect() as connection:
        stored = connection.execute(text("SELECT batch FROM run_sample ORDER BY sample_index"))
        return [json.loads(value) for (value,) in stored]


def replies(engine: Engine) -> dict[int, str]:
    with engine.connect() as connection:
        rows = connection.execute(
            text("SELECT s.sample_index, m.content FROM run_sample s JOIN message m ON m.id = s.message_id")
        )
        return {row[0]: row[1] for row in rows.all()}


def test_a_resumed_group_is_drawn_whole_and_keeps_what_an_unbroken_run_drew(engine: Engine, registry: Registry) -> None:
    service = Experiments(engine, registry)
    run_id = service.start(parse_suite_toml(SUITE, "groups.toml"))
    assert list(service.execute(run_id))[-1].status == "complete"
    unbroken = replies(engine)
    layout = batches(engine)
    assert [b["position"] for b in layout] == list(range(8)), layout
    assert all((b["rows"], b["members"], b["samples"]) == (8, 8, list(range(8))) for b in layout), layout

    # As a kill leaves a run: three samples not linked yet, their replies still in the conversation.
    with engine.begin() as connection:
        connection.execute(text("DELETE FROM run_sample WHERE sample_index >= 5"))
        connection.execute(text("UPDATE run SET status = 'stopped', samples_done = 5"))
    assert list(service.resume(run_id))[-1].status == "complete"

    assert batches(engine) == layout  # the three were drawn in their own group of eight, not as a group of three
    assert replies(engine) == unbroken
    with engine.connect() as connection:
        kept = connection.execute(text("SELECT count(*) FROM message WHERE role = 'model'")).scalar_one()
    assert kept == 8  # the group's other five, drawn again, and the kill's three leftovers are gone

    replay = list(service.replay(run_id))[-1]
    assert replay.compared == 8 and not replay.differences  # type: ignore[union-attr]
