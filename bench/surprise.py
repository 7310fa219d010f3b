"""What each token's entropy costs: the simulator's per-token reading of gemma-3-270m's 262k logits with the
entropy (`simulator.spread`, one dot product more) against the same log-sum-exp without it, and both against the
decode of one token, all measured in this run on the same real logits. Prints microseconds a token and the
entropy's share of a generated token's time; the target is under 2%.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable

import numpy as np

from simulator import spread
from simulator.base import Finished, Simulator
from simulator.bundled import gemma_base_path
from simulator.values import SamplingSettings

PROMPT = "Once upon a time, in a small village at the edge of a great forest, there lived"
TARGET = 0.02


def log_total_only(logits: np.ndarray, space: np.ndarray) -> float:
    """The reading before entropy was added: the log-sum-exp alone."""
    peak = float(logits.max())
    np.subtract(logits, peak, out=space[0])
    np.exp(space[0], out=space[0])
    return peak + float(np.log(space[0].sum()))


def per_call_us(work: Callable[[], object], repeats: int) -> float:
    rounds = []
    for _ in range(5):
        started = time.perf_counter()
        for _ in range(repeats):
            work()
        rounds.append((time.perf_counter() - started) / repeats * 1e6)
    return statistics.median(rounds)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=200)
    args = parser.parse_args()

    simulator = Simulator(gemma_base_path())
    settings = SamplingSettings(temperature=0.8, max_tokens=args.tokens, seed=7)
    list(simulator.continue_document(PROMPT, settings.model_copy(update={"max_tokens": 2}), lane_key="bench"))
    started = time.perf_counter()  # the model loaded and the prompt read: generation alone from here
    n = sum(
        1 for step in simulator.continue_document(PROMPT, settings, lane_key="bench") if not isinstance(step, Finished)
    )
    token_us = (time.perf_counter() - started) / n * 1e6
    with simulator.borrow("bench") as context:
        logits = context.logits(-1).copy()  # the real distribution after the reply, kept while we time
    space = spread.scratch(logits.size)
    without = per_call_us(lambda: log_total_only(logits, space), args.repeats)
    with_entropy = per_call_us(lambda: spread.log_total_and_entropy(logits, space), args.repeats)
    share = (with_entropy - without) / token_us
    print(f"vocabulary: {logits.size} logits; {n} tokens generated at {token_us:,.0f} µs a token (reference)")
    print(f"log-sum-exp alone:          {without:8.1f} µs a token")
    print(f"log-sum-exp and entropy:    {with_entropy:8.1f} µs a token")
    print(f"entropy's share of a token: {share:.2%}  (target < {TARGET:.0%}: {'met' if share < TARGET else 'NOT met'})")
    return 0 if share < TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
