# The three servers' reply shapes, as their documentation gives them (llama.cpp's tools/server/README.md for
# llama-server's `/completion`, Ollama's `/api/generate` with logprobs, the legacy OpenAI completions shape that
# vLLM and llama_cpp.server stream). Only `openai-completions` runs against a real server in these tests (see
# test_remote.py): there is no llama-server or Ollama binary on the machines these tests run on.

from __future__ import annotations

import math

import pytest

from simulator.remote_apis import (
    ServerAnswer,
    decode,
    llama_server_body,
    llama_server_chunk,
    ollama_body,
    ollama_chunk,
    ollama_models,
    openai_chunk,
    openai_models,
    sse_payload,
)
from simulator.values import SamplingSettings


def test_a_llama_server_chunk_gives_the_token_its_probability_and_alternatives() -> None:
    chunk = {
        "content": " Paris",
        "stop": False,
        "completion_probabilities": [
            {
                "id": 7127,
                "token": " Paris",
                "logprob": math.log(0.6),
                "bytes": [32, 80, 97, 114, 105, 115],
                "top_logprobs": [
                    {"id": 7127, "token": " Paris", "logprob": math.log(0.6)},
                    {"id": 3, "token": " the", "logprob": math.log(0.3)},
                    {"id": 4, "token": " a", "logprob": math.log(0.05)},
                ],
            }
        ],
    }
    [token] = llama_server_chunk(chunk, k=2).tokens

    assert token.text == " Paris" and token.p == pytest.approx(0.6)
    assert [(a.text, round(a.p, 3)) for a in token.top] == [(" Paris", 0.6), (" the", 0.3)]


def test_llama_servers_post_sampling_probabilities_and_its_last_chunk() -> None:
    chunk = {
        "content": "!",
        "completion_probabilities": [
            {"token": "!", "prob": 0.9, "top_probs": [{"token": "!", "prob": 0.9}, {"token": ".", "prob": 0.1}]}
        ],
    }
    [token] = llama_server_chunk(chunk, k=5).tokens
    assert token.p == pytest.approx(0.9) and [a.text for a in token.top] == ["!", "."]

    last = llama_server_chunk({"content": "", "stop": True, "stop_type": "limit"}, k=5)
    assert last.tokens == [] and last.finish == "length"
    assert llama_server_chunk({"content": "", "stop": True, "stop_type": "eos"}, k=5).finish == "stop"


def test_an_ollama_chunk_and_its_done_line() -> None:
    line = {
        "model": "olmo2:7b",
        "response": " Paris",
        "done": False,
        "logprobs": [
            {"token": " Paris", "logprob": -0.5, "top_logprobs": [{"token": " Paris", "logprob": -0.5}]},
        ],
    }
    [token] = ollama_chunk(line, k=5).tokens
    assert token.text == " Paris" and token.p == pytest.approx(math.exp(-0.5))
    assert ollama_chunk({"response": "", "done": True, "done_reason": "length"}, k=5).finish == "length"
    assert ollama_models({"models": [{"name": "olmo2:7b"}, {"name": "llama3:latest"}]}) == ["olmo2:7b", "llama3:latest"]


def test_a_server_that_sends_no_probabilities_still_streams_its_text() -> None:
    [token] = openai_chunk({"choices": [{"text": "Hi", "logprobs": None, "finish_reason": None}]}, k=5).tokens
    assert (token.text, token.p, token.top) == ("Hi", None, [])
    [token] = ollama_chunk({"response": "Hi", "done": False}, k=5).tokens
    assert token.p is None


def test_an_error_inside_a_stream_is_reported_not_parsed() -> None:
    assert openai_chunk({"error": {"message": "out of memory"}}, k=5).error == "out of memory"
    assert ollama_chunk({"error": "model 'x' not found"}, k=5).error == "model 'x' not found"


def test_answers_of_another_shape_are_named() -> None:
    with pytest.raises(ServerAnswer, match="not JSON: '<html><body>Bad gateway</body></html>'"):
        decode("<html><body>Bad\n gateway</body></html>", "the server")
    with pytest.raises(ServerAnswer, match="OpenAI shape"):
        openai_models({"models": []})
    with pytest.raises(ServerAnswer, match="llama-server"):
        llama_server_chunk({"choices": []}, k=5)
    assert sse_payload("data: [DONE]") is None and sse_payload(": keep-alive") is None
    assert sse_payload('data: {"a": 1}') == '{"a": 1}'


def test_request_bodies_carry_the_lanes_settings_and_no_repeat_penalty() -> None:
    settings = SamplingSettings(temperature=0.3, top_p=0.9, top_k=20, max_tokens=7, seed=5)
    native = llama_server_body("doc", settings, 5, stream=True)
    assert (native["n_predict"], native["n_probs"], native["seed"], native["repeat_penalty"]) == (7, 5, 5, 1.0)
    ollama = ollama_body("olmo2:7b", "doc", settings, 5, stream=True)
    assert ollama["raw"] is True and ollama["logprobs"] is True and ollama["top_logprobs"] == 5
    assert ollama["options"] == {
        "num_predict": 7,
        "temperature": 0.3,
        "top_p": 0.9,
        "top_k": 20,
        "repeat_penalty": 1.0,
        "seed": 5,
    }
