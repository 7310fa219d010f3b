# Each token's entropy and surprisal. In-process, the entropy is the whole vocabulary's, as computed apart (in
# float64, by plain numpy) from the very logits llama.cpp left for that prefix; from a server, a lower bound from the
# top-k it returned, labelled so (and, on a real server, never above the true entropy: test_remote.py).

from __future__ import annotations

import math

import numpy as np
import pytest

from simulator.base import Finished, Simulator
from simulator.metrics import RAW, Measured, measure
from simulator.registry import Registry
from simulator.remote_apis import RemoteToken, entropy_lower_bound
from simulator.values import Alternative, SamplingSettings, Token

STORY = "Once upon a time, in a small village by the sea, there lived"
SAMPLED = SamplingSettings(temperature=0.9, seed=11, max_tokens=6)


def _entropy(logits: np.ndarray) -> float:
    wide = logits.astype(np.float64)
    log_p = wide - wide.max()
    log_p -= np.log(np.exp(log_p).sum())
    return float(-(np.exp(log_p) * log_p).sum())


@pytest.mark.model
def test_each_tokens_entropy_is_the_whole_vocabularys(registry: Registry) -> None:
    base: Simulator = registry.simulator(registry.resolve("base"))
    # A reply of n tokens leaves, in its lane's context, the logits its last token was drawn from: replies of
    # 1, 2, ... tokens (the same seed, so the same tokens) check every position of the longest.
    longest: list[Token] = []
    for n in range(1, SAMPLED.max_tokens + 1):
        key = f"surprise-{n}"
        *tokens, finished = base.continue_document(STORY, SAMPLED.model_copy(update={"max_tokens": n}), lane_key=key)
        assert isinstance(finished, Finished) and finished.reason == "length"
        with base.borrow(key) as context:
            truth = _entropy(context.logits(-1))
        last = tokens[-1]
        assert isinstance(last, Token) and last.entropy is not None and not last.entropy_bound
        assert last.entropy == pytest.approx(truth, abs=1e-4)
        longest = tokens  # type: ignore[assignment]
    for token in longest:
        assert token.p is not None and token.surprisal == pytest.approx(-math.log(token.p))
    assert max(t.entropy or 0 for t in longest) > 0.5  # a story's next word is open: the check is not on zeros


def test_the_remote_bound_counts_the_top_k_and_the_mass_left_over() -> None:
    top = [Alternative(text="a", p=0.5), Alternative(text="b", p=0.25)]
    bound = entropy_lower_bound(RemoteToken("a", 0.5, top))
    # a and b, then the quarter left over, none of it likelier than b's 0.25: at least one more 0.25.
    assert bound == pytest.approx(-0.5 * math.log(0.5) - 0.5 * math.log(0.25))
    assert bound == pytest.approx(_entropy(np.log(np.array([0.5, 0.25, 0.25]))))  # the bound is reached exactly
    outside = entropy_lower_bound(RemoteToken("c", 0.1, top))  # the sampled token was not among the top
    assert outside == pytest.approx(
        -0.5 * math.log(0.5) - 0.25 * math.log(0.25) - 0.1 * math.log(0.1) - 0.15 * math.log(0.25)
    )
    assert entropy_lower_bound(RemoteToken("a", 0.5, [])) is None
    assert entropy_lower_bound(RemoteToken("a", None, top)) is None


def test_a_replys_metrics_hold_its_mean_entropy_and_largest_surprisal() -> None:
    tokens = [
        Token(text="a", p=0.5, entropy=1.0),
        Token(text="b", p=0.01, entropy=3.0),
        Token(text="c", p=0.9),  # a token from before entropy was recorded counts for surprisal only
    ]
    reply = Measured(mask=RAW, history=[], document="", tokens=tokens, finished=None, key="k")
    *_, metrics = measure(None, reply, score=False)  # type: ignore[arg-type]  # nothing to decode without score

    assert metrics is not None
    assert metrics.mean_entropy == pytest.approx(2.0) and metrics.entropy_bound is False
    assert metrics.max_surprisal == pytest.approx(-math.log(0.01))
    bound = [t.model_copy(update={"entropy_bound": True}) for t in tokens]
    *_, remote = measure(None, Measured(RAW, [], "", bound, None, "k"), score=False)  # type: ignore[arg-type]
    assert remote is not None and remote.entropy_bound is True
