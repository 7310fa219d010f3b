# Chat lanes through litellm against a real OpenAI-compatible server (llama-cpp-python's, serving the bundled
# SmolLM2 on 127.0.0.1): the same path a user takes with a local server or a cloud provider, with no key.

from __future__ import annotations

from collections.abc import Iterator

import pytest

from personas.catalog import load_mask
from personas.mask import HistoryTurn
from simulator.base import Finished
from simulator.chat import ChatModel
from simulator.registry import ModelEntry, Registry
from simulator.turn import LaneConfig, run_turn
from simulator.values import SamplingSettings, Token

pytestmark = pytest.mark.model

GREEDY = SamplingSettings(temperature=0.0, seed=1, max_tokens=16)
MESSAGES = [{"role": "user", "content": "What is the capital of France?"}]


@pytest.fixture(autouse=True)
def no_openai_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)  # a local server needs none


@pytest.fixture(scope="module")
def server_registry(openai_server: str) -> Iterator[Registry]:
    entry = ModelEntry(name="server", kind="chat", litellm="openai/smollm2", api_base=openai_server)
    registry = Registry(n_ctx=1024, n_threads=1, extra=[entry])
    yield registry
    registry.close()


def test_chat_model_streams_a_reply_from_the_server(openai_server: str) -> None:
    *tokens, finished = list(ChatModel("openai/smollm2", api_base=openai_server).stream(MESSAGES, GREEDY))

    assert isinstance(finished, Finished) and finished.reason in ("stop", "length")
    assert all(isinstance(token, Token) and token.p is None for token in tokens)  # chat APIs share no probabilities
    assert len(tokens) > 1, "the reply arrives in pieces, not at once"
    assert "".join(token.text for token in tokens).strip()


def test_max_tokens_reaches_the_server(openai_server: str) -> None:
    settings = GREEDY.model_copy(update={"max_tokens": 3})
    long_question = [{"role": "user", "content": "Write a long poem about the sea."}]

    *tokens, finished = list(ChatModel("openai/smollm2", api_base=openai_server).stream(long_question, settings))

    assert isinstance(finished, Finished) and finished.reason == "length"
    assert 1 <= len(tokens) <= 3


def test_a_server_lane_answers_in_a_turn_with_the_mask_as_system_prompt(server_registry: Registry) -> None:
    assistant = load_mask("assistant")
    lanes = [LaneConfig(label="server@assistant", model="server", mask=assistant, settings=GREEDY)]
    history = [HistoryTurn(role="user", text="What is the capital of France?")]

    events = list(run_turn(lanes, [history], server_registry))

    start, *_, end = events
    assert start.kind == "start" and isinstance(start.prompt, list)
    assert start.prompt[0]["role"] == "system" and "Ada" in start.prompt[0]["content"]
    assert start.prompt[-1] == {"role": "user", "content": "What is the capital of France?"}
    assert end.kind == "done", end.error
    assert "".join(event.token.text for event in events if event.token is not None).strip()
