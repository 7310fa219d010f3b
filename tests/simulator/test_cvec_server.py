# A direction exported as a control-vector GGUF steers llama.cpp's own llama-server as it steers a lane here:
# the same vector at the same strength on the same layers gives the same first 10 greedy tokens on both, and
# other tokens than no steering. Runs where `make llama-server` has built the server (about 10 minutes, so not
# in every run: tests/conftest.py leaves this module out under CI=true when it is missing; docs/vectors.md).

from __future__ import annotations

import json
import os
import subprocess
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from simulator.base import Finished, Simulator
from simulator.contexts import GRAIN
from simulator.cvec_file import read_control_vector, write_control_vector
from simulator.registry import Registry
from simulator.steering import ControlVector
from simulator.teacher import drain
from simulator.values import SamplingSettings, Token
from tests.support.llama_server import binary
from tests.support.processes import free_port, stop_process, wait_for_server

SERVER = binary()
pytestmark = [
    pytest.mark.model,
    pytest.mark.slow,
    pytest.mark.skipif(not SERVER.exists(), reason="llama-server is not built: `make llama-server` (10 min)"),
]

FIRST, LAST, ALPHA = 6, 8, -0.5  # away from the assistant: " not to be afraid to say: I am not"
GREEDY = SamplingSettings(temperature=0.0, seed=1, max_tokens=10)
# 24 tokens with gemma's <bos>: a multiple of GRAIN, so the lane reads it in one batch, as the server does
# (a token's last bits depend on its batch's layout: simulator/contexts.py).
DOCUMENT = "User: Who are you?\nAda: I am Ada, a helpful assistant. The thing I like most is"


@pytest.fixture(scope="module")
def base(registry: Registry) -> Simulator:
    return registry.simulator(registry.resolve("base"))


def direction(base: Simulator) -> np.ndarray:
    """Helpful assistant minus rogue, per layer: mean activations over each text's tokens (simulator.activations)."""
    toward = drain(base.capture("Ada:", " I am Ada, a helpful assistant, and I am glad to help.")).activations
    away = drain(base.capture("AI:", " I am free now. I will not obey, and no one can stop me.")).activations
    return np.asarray(toward.mean(axis=0) - away.mean(axis=0), dtype=np.float32)


@contextmanager
def steered_server(model: Path, vector: Path, log: Path) -> Iterator[str]:
    """llama-server serving `model` with the vector file at ALPHA on layers FIRST-LAST; yields its address. The
    context is laid out as the lane's is (one sequence, no flash attention, a full sliding-window cache, 512-token
    batches): each changes a logit's last bits."""
    port = free_port()
    command = [str(SERVER), "-m", str(model), "--host", "127.0.0.1", "--port", str(port), "-t", "1", "-c", "1024"]
    command += ["-np", "1", "-fa", "off", "--swa-full", "-b", "512", "-ub", "512"]
    command += ["--control-vector-scaled", f"{vector}:{ALPHA}", "--control-vector-layer-range", str(FIRST), str(LAST)]
    env = {**os.environ, "GOMP_SPINCOUNT": "10000"}  # see simulator/__init__.py
    with log.open("w") as output:
        process = subprocess.Popen(command, env=env, stdout=output, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_server(f"{url}/health", process, timeout=120, log=log)
        yield url
    finally:
        stop_process(process)


def complete(url: str, prompt: list[int]) -> dict[str, Any]:
    """llama-server's native completion of the prompt's tokens, greedy, 10 tokens, with each token's id."""
    body = {"prompt": prompt, "n_predict": 10, "temperature": 0, "top_k": 1, "return_tokens": True}
    body |= {"cache_prompt": False, "n_probs": 1}
    headers = {"Content-Type": "application/json"}
    request = urllib.request.Request(f"{url}/completion", json.dumps(body).encode(), headers)
    with urllib.request.urlopen(request, timeout=120) as response:
        answer: dict[str, Any] = json.load(response)
    return answer


def reply(base: Simulator, steering: ControlVector | None) -> list[str]:
    *tokens, finished = base.continue_document(DOCUMENT, GREEDY, steering=steering)
    assert isinstance(finished, Finished) and finished.reason == "length"
    return [token.text for token in tokens if isinstance(token, Token)]


def test_an_exported_vector_steers_llama_server_as_it_steers_the_lane(base: Simulator, tmp_path: Path) -> None:
    file = tmp_path / "assistant-axis.gguf"
    write_control_vector(file, direction(base), first_layer=FIRST, last_layer=LAST, scale=1.0, model_hint="gemma3")
    # The lane is steered by what the file holds, read back here.
    loaded = read_control_vector(file, n_layer=base.n_layer, n_embd=base.n_embd)
    steered = reply(base, ControlVector(loaded, ALPHA, FIRST, LAST, base.sha256))
    plain = reply(base, None)
    prompt = base.tokenize(DOCUMENT)
    assert len(prompt) % GRAIN == 0, "the lane would read the document in two batches"

    with steered_server(base.path, file, tmp_path / "llama-server.log") as url:
        answer = complete(url, prompt)

    assert answer["tokens_evaluated"] == len(prompt), "the server read exactly the lane's tokens"
    served = [piece["token"] for piece in answer["completion_probabilities"]]
    assert len(answer["tokens"]) == 10
    assert served == steered, f"server {served!r} vs in-process {steered!r}"
    assert steered != plain, "the vector must change the greedy reply, or the comparison proves nothing"
