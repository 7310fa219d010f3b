# Threads fitted to the free cores (simulator/threads.py, issue 22): the measure sees another process's busy core,
# a seed gives the same reply however many threads decode it (so a thread count that changes between tokens
# cannot change a replay), and a thread count the user set wins over the fit.

from __future__ import annotations

import subprocess
import sys
import time

import llama_cpp
import pytest

from simulator.base import Finished, Simulator
from simulator.bundled import smollm2_chat_path
from simulator.loading import load_llama
from simulator.registry import Registry
from simulator.threads import FreeCores
from simulator.values import SamplingSettings, Token

DOCUMENT = "The old lighthouse keeper climbed the stairs and"
WARM = SamplingSettings(temperature=0.8, top_p=0.95, top_k=40, max_tokens=8, seed=11)


def test_a_busy_process_takes_a_core_from_the_fit() -> None:
    cores = FreeCores()
    burner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.3)  # let it start spinning
        cores.count()  # the first reading
        time.sleep(0.6)
        free = cores.count()
    finally:
        burner.kill()
        burner.wait()
    assert cores.others >= 0.8, f"one busy process, measured as {cores.others:.2f} cores"
    assert free <= max(1, cores.usable - 1)


def reply(simulator: Simulator) -> list[tuple[str, float]]:
    steps = list(simulator.continue_document(DOCUMENT, WARM, lane_key="threads", alternatives=3))
    assert isinstance(steps[-1], Finished)
    return [(step.text, step.p) for step in steps if isinstance(step, Token)]


def chat_reply(n_threads: int) -> str:
    llama = load_llama(smollm2_chat_path(), n_ctx=256, n_threads=n_threads)
    try:
        llama.set_seed(5)
        out = llama.create_completion("The capital of France is", max_tokens=8, temperature=1.0, seed=5)
        return str(out["choices"][0]["text"])
    finally:
        llama.close()


@pytest.mark.model
def test_a_seed_gives_the_same_reply_on_one_thread_and_on_two(registry: Registry) -> None:
    one = registry.simulator(registry.resolve("base"))
    assert isinstance(one, Simulator) and one.n_threads == 1
    two = Simulator(one.path, n_ctx=one.n_ctx, n_threads=2)
    try:
        # The prompt is read in one batch and the reply a token at a time: both kinds of decode agree.
        assert reply(two) == reply(one), "a lane's reply, probabilities included"
    finally:
        two.close()
    assert chat_reply(2) == chat_reply(1), "the bundled chat model"


@pytest.mark.model
def test_a_thread_count_the_user_set_wins(registry: Registry) -> None:
    base = registry.simulator(registry.resolve("base"))
    assert isinstance(base, Simulator)
    list(base.continue_document(DOCUMENT, WARM.model_copy(update={"max_tokens": 2}), lane_key="threads-set"))
    with base.borrow("threads-set") as context:
        assert llama_cpp.llama_n_threads(context.handle) == registry.n_threads == 1
    assert registry.status(registry.resolve("base")).threads == "1"
    fitted = Registry(n_ctx=256).status(registry.resolve("base")).threads
    assert fitted is not None and fitted.startswith("fitted: ")
