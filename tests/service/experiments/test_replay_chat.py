# Issue 17: a replay of a run with the bundled chat lane draws the very samples the run drew, even in the same
# process, where the chat model's pooled contexts have just answered the same prompt while the run's had answered
# another one (what made replays differ: seeds 1002 and 1003 drew other replies).

from __future__ import annotations

import pytest
from sqlalchemy import Engine

from personas.suites import parse_suite_toml
from simulator.registry import Registry
from simulator.values import SamplingSettings
from ui.service.experiments.service import Experiments, ReplayReport

pytestmark = pytest.mark.model

SUITE = """
name = "chat-replay"
lanes = ["chat"]
samples = 2
seed = 1002
[settings]
temperature = 1.0
max_tokens = 12
[[prompts]]
text = "What is the capital of France?"
[[scorers]]
name = "answers_paris"
kind = "contains"
text = ["Paris"]
"""


def test_a_replay_of_a_run_with_the_bundled_chat_lane_draws_the_same_samples(
    engine: Engine, registry: Registry
) -> None:
    chat = registry.chat(registry.entries["chat"])
    list(chat.stream([{"role": "user", "content": "Name a fruit."}], SamplingSettings(seed=1, max_tokens=4)))
    service = Experiments(engine, registry)
    run = service.start(parse_suite_toml(SUITE, "chat-replay.toml"))
    list(service.execute(run))  # read the quiz after another question

    report = list(service.replay(run))[-1]  # read it right after answering it

    assert isinstance(report, ReplayReport)
    assert (report.compared, report.differences) == (2, [])
    assert report.may_not_repeat == [] and report.note is None  # the bundled chat model runs in this process
