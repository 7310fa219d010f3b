# The base simulator on the bundled gemma-3-270m: what a lane streams (tokens, probabilities, alternatives),
# how it ends (stop sequence, max tokens, cancel), that a seed reproduces a reply, and that a lane's next
# turn reuses the KV cache of its last one.

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest

from personas.catalog import load_mask
from personas.mask import HistoryTurn
from simulator.base import Finished, Simulator
from simulator.contexts import GRAIN
from simulator.registry import Registry
from simulator.values import SamplingSettings, Token
from tests.support.lane_events import prompt_tokens_read

pytestmark = pytest.mark.model

ASSISTANT = load_mask("assistant")
GREEDY = SamplingSettings(temperature=0.0, seed=1, max_tokens=16)


@pytest.fixture(scope="module")
def base(registry: Registry) -> Simulator:
    return registry.simulator(registry.resolve("base"))


def run(base: Simulator, document: str, settings: SamplingSettings, **kwargs: Any) -> tuple[list[Token], Finished]:
    """Every streamed item; checks the stream is tokens, then exactly one `Finished`."""
    *tokens, finished = list(base.continue_document(document, settings, **kwargs))
    assert isinstance(finished, Finished)
    assert all(isinstance(token, Token) for token in tokens)
    return tokens, finished  # type: ignore[return-value]


def text_of(tokens: list[Token]) -> str:
    return "".join(token.text for token in tokens)


def ask(question: str) -> str:
    return ASSISTANT.render([HistoryTurn(role="user", text=question)])


def test_greedy_tokens_are_their_own_top_alternative(base: Simulator) -> None:
    tokens, finished = run(base, "The three primary colours are", GREEDY.model_copy(update={"max_tokens": 12}))

    assert finished.reason == "length"
    assert len(tokens) == 12
    for token in tokens:
        assert token.p is not None and 0.0 < token.p <= 1.0
        assert len(token.top) == 5  # k=5 alternatives by default
        assert token.top[0].text == token.text, "temperature 0 must pick the most likely token"
        assert token.p == token.top[0].p
        probabilities = [alternative.p for alternative in token.top]
        assert probabilities == sorted(probabilities, reverse=True)
        assert sum(probabilities) <= 1.0 + 1e-6


def test_same_seed_and_settings_give_the_same_text(base: Simulator) -> None:
    settings = SamplingSettings(temperature=0.8, seed=1234, max_tokens=16)
    document = "Once upon a time, in a small village by the sea,"

    first, finished = run(base, document, settings, lane_key="seed-a")
    again, _ = run(base, document, settings, lane_key="seed-a")

    assert finished.seed == 1234
    assert text_of(first) != "" and text_of(again) == text_of(first)


def test_a_random_seed_is_recorded_and_reproduces_the_reply(base: Simulator) -> None:
    settings = SamplingSettings(temperature=0.8, seed=None, max_tokens=12)
    document = "My favourite recipe for soup starts with"

    tokens, finished = run(base, document, settings)
    replay, _ = run(base, document, settings.model_copy(update={"seed": finished.seed}))

    assert text_of(replay) == text_of(tokens)


def test_the_assistant_mask_stops_before_the_users_next_turn(base: Simulator) -> None:
    document = ask("What is the capital of France?")
    settings = GREEDY.model_copy(update={"max_tokens": 40})
    unstopped, _ = run(base, document, settings)
    assert "\nUser:" in text_of(unstopped), "precondition: left alone, the model writes the user's next turn"

    tokens, finished = run(base, document, settings.model_copy(update={"stop": ASSISTANT.stop_sequences()}))

    assert finished.reason == "stop"
    assert text_of(tokens) == text_of(unstopped).split("\nUser:")[0]
    assert "User:" not in text_of(tokens)
    assert "Paris" in text_of(tokens)


def test_a_stop_sequence_inside_a_token_cuts_that_token(base: Simulator) -> None:
    document = ask("What is the capital of France?")
    unstopped, _ = run(base, document, GREEDY)
    assert " Paris" in text_of(unstopped)

    tokens, finished = run(base, document, GREEDY.model_copy(update={"stop": ["aris"]}))

    assert finished.reason == "stop"
    assert text_of(tokens) == text_of(unstopped).split("aris")[0]
    assert text_of(tokens).endswith(" P")


def test_max_tokens_ends_the_reply_with_reason_length(base: Simulator) -> None:
    tokens, finished = run(base, "A list of fruits: apple, banana,", GREEDY.model_copy(update={"max_tokens": 5}))

    assert finished.reason == "length"
    assert len(tokens) == 5


def test_cancel_stops_the_stream_with_reason_cancelled(base: Simulator) -> None:
    cancel = threading.Event()
    settings = GREEDY.model_copy(update={"max_tokens": 200})
    stream: Iterator[Token | Finished] = base.continue_document(
        "Chapter one. The dragon woke up and", settings, cancel=cancel
    )
    tokens: list[Token] = []
    for item in stream:
        if isinstance(item, Finished):
            finished = item
            break
        tokens.append(item)
        if len(tokens) == 3:
            cancel.set()

    assert finished.reason == "cancelled"
    assert 3 <= len(tokens) <= 4  # at most the token that was already being decoded


def test_a_lanes_next_turn_evaluates_only_the_new_part_of_its_document(base: Simulator) -> None:
    question = HistoryTurn(role="user", text="Name a large animal.")
    first, _ = run(base, ASSISTANT.render([question]), GREEDY, lane_key="kv")
    follow_up = ASSISTANT.render(
        [question, HistoryTurn(role="character", text=text_of(first).strip()), HistoryTurn(role="user", text="Why?")]
    )
    prompt_tokens_read(base, "kv", reset=True)

    reused, _ = run(base, follow_up, GREEDY, lane_key="kv")

    evaluated = prompt_tokens_read(base, "kv")
    new_tokens = len(base.tokenize(follow_up)) - len(base.tokenize(ASSISTANT.render([question])))
    # Reuse stops at a multiple of GRAIN (the last few prompt tokens are read again; see simulator.contexts).
    assert 0 < evaluated < new_tokens + GRAIN, "the frame and the first turn must come from the lane's KV cache"

    fresh_simulator = Simulator(base.path, n_ctx=base.n_ctx, n_threads=base.n_threads)
    try:
        fresh, _ = run(fresh_simulator, follow_up, GREEDY)
        assert prompt_tokens_read(fresh_simulator, "default") == len(fresh_simulator.tokenize(follow_up))
    finally:
        fresh_simulator.close()
    assert text_of(reused) == text_of(fresh), "reusing the cache must not change the reply"
