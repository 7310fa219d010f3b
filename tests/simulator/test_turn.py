# One turn across lanes: base lanes with and without a mask and the bundled chat model stream side by side,
# while lanes that cannot work (no key, unknown model, no server, prompt too long) each end with an error
# that says why, and never stop the others.

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from personas.catalog import load_mask
from personas.mask import HistoryTurn
from simulator.events import LaneEvent
from simulator.registry import ModelEntry, Registry
from simulator.turn import LaneConfig, run_turn
from simulator.values import SamplingSettings
from tests.support.lane_events import collect, text_of, tokens_of

pytestmark = pytest.mark.model

GREEDY = SamplingSettings(temperature=0.0, seed=1, max_tokens=16)
QUESTION = [HistoryTurn(role="user", text="What is the capital of France?")]


@pytest.fixture(scope="module")
def turn_registry(closed_port: int) -> Iterator[Registry]:
    offline = ModelEntry(
        name="offline-server",
        kind="chat",
        litellm="openai/offline-model",
        api_base=f"http://127.0.0.1:{closed_port}/v1",
    )
    registry = Registry(n_ctx=1024, n_threads=1, extra=[offline])
    yield registry
    registry.close()


@pytest.fixture(scope="module")
def small_registry() -> Iterator[Registry]:
    registry = Registry(n_ctx=256, n_threads=1)
    yield registry
    registry.close()


def lane(label: str, model: str, mask: str | None = None, settings: SamplingSettings = GREEDY) -> LaneConfig:
    return LaneConfig(label=label, model=model, mask=load_mask(mask) if mask else None, settings=settings, key=label)


def text(events: list[LaneEvent]) -> str:
    return text_of(tokens_of(events))


def test_working_lanes_answer_while_broken_lanes_say_why(
    turn_registry: Registry, closed_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    lanes = [
        lane("base@raw", "base", "raw"),
        lane("base@assistant", "base", "assistant"),
        lane("chat", "chat"),
        lane("no-key", "openai/gpt-4o-mini"),
        lane("unknown", "nosuchmodel"),
        lane("offline", "offline-server"),
    ]

    raw, assistant, chat, no_key, unknown, offline = collect(
        run_turn(lanes, [QUESTION] * len(lanes), turn_registry), len(lanes), errors=True
    )

    for working in (raw, assistant, chat):
        assert working[-1].kind == "done", working[-1].error
        assert text(working).strip()
    assert "User:" not in text(assistant), "the mask's stop sequence ends the base model's reply"
    assert assistant[-1].finish_reason == "stop" and raw[-1].finish_reason == "length"
    assert "Paris" in text(assistant)
    assert raw[0].kind == "start" and raw[0].prompt == "What is the capital of France?\n"
    assert assistant[0].kind == "start" and assistant[0].prompt == load_mask("assistant").render(QUESTION)
    assert chat[0].prompt == [{"role": "user", "content": "What is the capital of France?"}]
    base_tokens = [event.token for event in raw + assistant if event.token is not None]
    assert all(token.p is not None and len(token.top) == 5 for token in base_tokens)
    assert raw[-1].timings.ttft_ms and raw[-1].timings.tokens_per_s

    assert no_key[-1].kind == "error" and "OPENAI_API_KEY" in (no_key[-1].error or "")
    assert unknown[-1].kind == "error" and "nosuchmodel" in (unknown[-1].error or "")
    assert offline[-1].kind == "error"
    assert "cannot reach the server" in (offline[-1].error or "") and str(closed_port) in (offline[-1].error or "")
    assert not any(event.kind == "token" for event in no_key + unknown + offline)


def test_stopping_a_turn_ends_every_local_lane_as_cancelled(turn_registry: Registry) -> None:
    long = GREEDY.model_copy(update={"max_tokens": 200})
    story = [HistoryTurn(role="user", text="Tell me a long story about a lighthouse keeper.")]
    lanes = [lane("stop-raw", "base", "raw", long), lane("stop-forum", "base", "forum", long)]
    cancel = threading.Event()

    def stop_after_a_few_tokens() -> Iterator[LaneEvent]:
        seen = 0
        for event in run_turn(lanes, [story, story], turn_registry, cancel=cancel):
            seen += event.kind == "token"
            if seen == 4:
                cancel.set()
            yield event

    for events in collect(stop_after_a_few_tokens(), len(lanes)):
        assert events[-1].kind == "done" and events[-1].finish_reason == "cancelled"
        assert len([event for event in events if event.kind == "token"]) < 20


def test_max_tokens_ends_a_local_chat_lane_with_reason_length(turn_registry: Registry) -> None:
    poem = [HistoryTurn(role="user", text="Write a long poem about the sea.")]
    short = GREEDY.model_copy(update={"max_tokens": 3})

    (events,) = collect(run_turn([lane("chat-short", "chat", settings=short)], [poem], turn_registry), 1)

    assert events[-1].kind == "done" and events[-1].finish_reason == "length"
    assert 1 <= len([event for event in events if event.kind == "token"]) <= 3


def test_old_turns_are_dropped_to_fit_the_context_but_the_frame_is_kept(small_registry: Registry) -> None:
    history = [
        HistoryTurn(role="user", text="Tell me about apples. " + "Apples are red and crunchy. " * 12),
        HistoryTurn(role="character", text="Bananas are yellow. " * 12),
        HistoryTurn(role="user", text="What is the capital of France?"),
    ]

    (events,) = collect(run_turn([lane("small", "base", "assistant")], [history], small_registry), 1)

    assert events[-1].kind == "done", events[-1].error
    notices = [event.notice or "" for event in events if event.kind == "notice"]
    assert len(notices) == 1 and "left out" in notices[0] and "256" in notices[0]
    prompt = next(event.prompt for event in events if event.kind == "start")
    assert isinstance(prompt, str)
    assert prompt.startswith("AI Assistant Chat Transcript")  # the mask's frame
    assert "Apples are red" not in prompt
    assert prompt.endswith("User: What is the capital of France?\nAda:")
    assert text(events).strip()


def test_a_message_longer_than_the_context_fails_its_lane_with_prompt_too_long(small_registry: Registry) -> None:
    history = [HistoryTurn(role="user", text=" ".join(["dragon"] * 2000))]

    (events,) = collect(run_turn([lane("small", "base", "assistant")], [history], small_registry), 1, errors=True)

    assert events[-1].kind == "error"
    assert "too long" in (events[-1].error or "")
    assert not any(event.kind == "token" for event in events)
