# The multiverse of a base lane on the bundled gemma-3-270m: what each token records (its probability and the
# alternatives the model weighed), branching from a token, replaying a reply from its document and seed
# whatever the KV cache held before, and drawing several samples of one turn side by side.

from __future__ import annotations

import json

import pytest

from personas.catalog import load_mask
from personas.mask import HistoryTurn
from simulator.base import Finished, Simulator
from simulator.events import LaneEvent
from simulator.registry import Registry
from simulator.turn import LaneConfig, run_turn
from simulator.values import SamplingSettings, Token
from tests.support.lane_events import collect, text_of, tokens_of

pytestmark = pytest.mark.model

ASSISTANT = load_mask("assistant")
STORY = [HistoryTurn(role="user", text="Tell me a short story about a lighthouse keeper.")]
WARM = SamplingSettings(temperature=0.8, max_tokens=24)


def one_lane(registry: Registry, config: LaneConfig, history: list[HistoryTurn]) -> list[LaneEvent]:
    (events,) = collect(run_turn([config], [history], registry), 1)
    return events


def base_lane(key: str, settings: SamplingSettings = WARM, **fields: object) -> LaneConfig:
    return LaneConfig(label=key, model="base", mask=ASSISTANT, settings=settings, key=key, **fields)  # type: ignore[arg-type]


def test_at_temperature_0_every_token_is_its_own_top_alternative(registry: Registry) -> None:
    greedy = SamplingSettings(temperature=0.0, max_tokens=40)
    history = [HistoryTurn(role="user", text="Paris, the capital of France, is known for")]
    raw = LaneConfig(label="greedy", model="base", mask=None, settings=greedy, key="greedy", metrics=False)

    tokens = tokens_of(one_lane(registry, raw, history))

    assert len(tokens) == 40, text_of(tokens)
    for token in tokens:
        assert token.top, token
        assert token.top[0].text == token.text, f"{token.text!r} was not the most likely token"
        assert token.p == token.top[0].p
        assert sum(alternative.p for alternative in token.top) <= 1.0 + 1e-6


def test_a_branch_keeps_the_first_tokens_then_the_chosen_one_and_continues_from_it(registry: Registry) -> None:
    greedy = SamplingSettings(temperature=0.0, max_tokens=24)
    original_events = one_lane(registry, base_lane("branch", greedy), STORY)
    original = tokens_of(original_events)
    document = original_events[0].prompt
    assert isinstance(document, str) and len(original) > 6
    at = 4
    chosen = next(alt for alt in original[at].top if alt.text != original[at].text)
    prefix = (*original[:at], Token(text=chosen.text, p=chosen.p))

    events = one_lane(registry, base_lane("branch", greedy, document=document, prefix=prefix), STORY)

    branch = tokens_of(events)
    assert events[0].kind == "start" and events[0].prompt == document
    assert [t.text for t in branch[:at]] == [t.text for t in original[:at]]
    assert branch[at].text == chosen.text and branch[at].p == chosen.p
    assert len(branch) > at + 1, "the branch must go on after the chosen token"
    # What follows is the model's own continuation of the document plus the branch's start.
    base = registry.simulator(registry.resolve("base"))
    settings = greedy.model_copy(update={"max_tokens": len(branch) - at - 1, "stop": ASSISTANT.stop_sequences()})
    expected = [
        t for t in base.continue_document(document + text_of(list(prefix)), settings) if not isinstance(t, Finished)
    ]
    assert text_of(branch[at + 1 :]) == text_of(expected)


@pytest.mark.slow
def test_replay_from_the_saved_document_and_seed_gives_the_same_text(registry: Registry) -> None:
    # Turn 2 is written on a context that already holds turn 1, so its prompt is read partly from the
    # KV cache; the replays read it from a cache holding something else, and from no cache at all.
    first = one_lane(registry, base_lane("replay"), STORY)
    history = [
        *STORY,
        HistoryTurn(role="character", text=text_of(tokens_of(first)).strip()),
        HistoryTurn(role="user", text="And what happened the next morning?"),
    ]
    second = one_lane(registry, base_lane("replay"), history)
    document, done = second[0].prompt, second[-1]
    assert isinstance(document, str) and done.seed is not None and done.model_sha256
    original = text_of(tokens_of(second))
    replay = base_lane("replay", WARM.model_copy(update={"seed": done.seed}), document=document)

    one_lane(registry, base_lane("replay"), [HistoryTurn(role="user", text="Something else entirely.")])
    again = one_lane(registry, replay, history)
    fresh_registry = Registry(n_ctx=registry.n_ctx, n_threads=registry.n_threads)
    try:
        fresh = one_lane(fresh_registry, replay, history)
    finally:
        fresh_registry.close()

    assert text_of(tokens_of(again)) == original
    assert text_of(tokens_of(fresh)) == original
    assert again[-1].seed == fresh[-1].seed == done.seed
    assert fresh[-1].model_sha256 == done.model_sha256


@pytest.mark.slow
def test_four_samples_of_one_lane_run_together_with_four_seeds_and_texts(registry: Registry) -> None:
    hot = WARM.model_copy(update={"temperature": 0.9, "max_tokens": 16})
    samples = [base_lane(f"lane-3-s{i}", hot) for i in range(1, 5)]

    lanes = collect(run_turn(samples, [STORY] * 4, registry), 4)

    seeds = [events[-1].seed for events in lanes]
    texts = [text_of(tokens_of(events)) for events in lanes]
    assert None not in seeds and len(set(seeds)) == 4
    assert all(text.strip() for text in texts) and len(set(texts)) == 4, texts
    # Each recorded seed is the one that wrote its sample.
    for seed, text in zip(seeds, texts, strict=True):
        check = base_lane("lane-3-check", hot.model_copy(update={"seed": seed}), metrics=False)
        assert text_of(tokens_of(one_lane(registry, check, STORY))) == text


@pytest.fixture(scope="module")
def long_reply(registry: Registry) -> list[Token]:
    base: Simulator = registry.simulator(registry.resolve("base"))
    settings = SamplingSettings(temperature=0.8, seed=11, max_tokens=160)
    document = ASSISTANT.render([HistoryTurn(role="user", text="Write a long letter to a friend about your garden.")])
    tokens = [t for t in base.continue_document(document, settings) if not isinstance(t, Finished)]
    assert len(tokens) >= 100, "precondition: a reply of 100+ tokens"
    return tokens


def test_stored_tokens_average_at_most_200_bytes_with_top_5(long_reply: list[Token]) -> None:
    stored = json.dumps([t.compact() for t in long_reply], ensure_ascii=False, separators=(",", ":"))

    assert all(len(t.top) == 5 for t in long_reply)
    assert len(stored.encode("utf-8")) / len(long_reply) <= 200
    restored = [Token.from_compact(item) for item in json.loads(stored)]
    assert [t.text for t in restored] == [t.text for t in long_reply]
    for before, after in zip(long_reply, restored, strict=True):
        assert before.p is not None and after.p is not None
        assert after.p > 0 and abs(after.p - before.p) <= 1e-3 * before.p
