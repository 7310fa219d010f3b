# Multi-turn speed on the bundled gemma-3-270m: each base lane keeps its own KV cache, so its next turn reads
# only the new part of its document, even with another base lane (another mask) and the fidelity metrics'
# scoring running in the same turns.

from __future__ import annotations

import pytest

from personas.catalog import load_mask
from personas.mask import HistoryTurn
from simulator.base import Simulator
from simulator.contexts import GRAIN
from simulator.registry import Registry
from simulator.turn import LaneConfig, run_turn
from simulator.values import SamplingSettings
from tests.support.lane_events import collect, prompt_tokens_read

pytestmark = pytest.mark.model

SETTINGS = SamplingSettings(temperature=0.0, max_tokens=24)
MASKS = ["assistant", "interview"]


def test_two_base_lanes_with_different_masks_keep_their_own_caches(registry: Registry) -> None:
    base = registry.simulator(registry.resolve("base"))
    lanes = [LaneConfig(f"cache@{m}", "base", load_mask(m), SETTINGS, key=f"cache-{m}") for m in MASKS]
    histories = [[HistoryTurn(role="user", text="Where did you grow up?")] for _ in lanes]
    first = collect(run_turn(lanes, histories, registry), len(lanes))
    assert all(events[-1].metrics and events[-1].metrics.raw_perplexity for events in first), "scoring ran"
    for history, events in zip(histories, first, strict=True):
        reply = "".join(e.token.text for e in events if e.token is not None).strip()
        history += [HistoryTurn(role="character", text=reply), HistoryTurn(role="user", text="Tell me more.")]
    for config in lanes:
        prompt_tokens_read(base, config.key, reset=True)

    second = collect(run_turn(lanes, histories, registry), len(lanes))

    for config, before, after in zip(lanes, first, second, strict=True):
        old, new = before[0].prompt, after[0].prompt
        assert isinstance(old, str) and isinstance(new, str) and new.startswith(old)
        new_tokens = len(base.tokenize(new)) - len(base.tokenize(old))
        read = prompt_tokens_read(base, config.key)
        # The new part only (its reply, the new message, the cue), plus the up to 7 tokens before a
        # multiple of GRAIN that a reused cache stops at; a lost cache would mean the whole document again.
        assert 0 < read < new_tokens + GRAIN, (config.label, read, new_tokens, len(base.tokenize(new)))


@pytest.mark.slow
def test_samples_beyond_the_pools_size_do_not_cost_another_lane_its_cache(registry: Registry) -> None:
    shared = registry.simulator(registry.resolve("base"))
    base = Simulator(shared.path, n_ctx=shared.n_ctx, n_threads=shared.n_threads, max_contexts=3)
    other = load_mask("interview").render([HistoryTurn(role="user", text="Where did you grow up?")])
    story = load_mask("assistant").render([HistoryTurn(role="user", text="Tell me a story.")])
    warm = SamplingSettings(temperature=0.9, max_tokens=6)
    try:
        list(base.continue_document(other, SETTINGS, lane_key="other"))
        samples = [base.continue_document(story, warm, lane_key=f"s{i}") for i in range(5)]
        for steps in samples:  # all five hold a context at once, as on the local worker
            next(steps)
        for steps in samples:
            list(steps)
        prompt_tokens_read(base, "other", reset=True)

        list(base.continue_document(other, SETTINGS, lane_key="other"))

        assert len(base._lanes) == 3
        assert prompt_tokens_read(base, "other") < GRAIN, "the other lane's cache was closed for a sample's"
    finally:
        base.close()
