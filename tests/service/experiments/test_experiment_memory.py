# Issue 17: the app held 1.9 GB after a session of turns and experiments (budget 1.5 GB). An experiment draws a
# chat lane's samples four at a time, and each of the four loaded a copy of the chat model that stayed loaded
# after the run. After a run, the process holds no more copies than it did before (or the one kept for reuse).

from __future__ import annotations

import pytest
from sqlalchemy import Engine

from personas.suites import parse_suite_toml
from simulator.chat_pool import KEEP_IDLE
from simulator.registry import Registry
from tests.support.memory import loaded_chat_copies
from ui.service.experiments.cells import CHAT_GROUP
from ui.service.experiments.service import Experiments

pytestmark = pytest.mark.model

SUITE = f"""
name = "chat-chunk"
lanes = ["chat"]
samples = {CHAT_GROUP}
seed = 7
[settings]
temperature = 1.0
max_tokens = 8
[[prompts]]
text = "What is the capital of France?"
[[scorers]]
name = "answers_paris"
kind = "contains"
text = ["Paris"]
"""


def test_a_run_of_chat_samples_leaves_no_extra_model_copies_loaded(engine: Engine, registry: Registry) -> None:
    before = loaded_chat_copies()
    service = Experiments(engine, registry)
    run = service.start(parse_suite_toml(SUITE, "chat-chunk.toml"))
    progress = list(service.execute(run))

    assert (progress[-1].status, progress[-1].samples_done) == ("complete", CHAT_GROUP)
    assert loaded_chat_copies() <= max(before, KEEP_IDLE)
