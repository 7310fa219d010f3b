"""Batched samples (the fast layout) against the same samples drawn one after another, top-5 probabilities on.

Eight samples of 64 tokens from one document on the bundled gemma-3-270m (temperature 0.8, seeds 1..8):
`Simulator.continue_samples` with `rows=FAST_ROWS` (prompt read once, its cache copied to eight sequences, every
live sample in one decode per step) against `Simulator.continue_document` eight times, alternating rounds so that
machine noise hits both alike. Prints the total tokens/s of each (median of the rounds) and the ratio (target: at
least 1.7; llama.cpp's own `llama-batched-bench` measured 1.94x for 8 sequences against 1 on the 2-core machine,
quiet). Then what a user can check (`simulator.batch`): every round's batched draw must give the same replies (text,
probabilities, alternatives), and so must one sample replayed alone in the fast layout; and the exact layout
(`rows=EXACT_ROWS`, untimed here: it gains nothing) gives each seed's lone reply.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

from simulator.base import Finished, Simulator
from simulator.batch import FAST_ROWS
from simulator.bundled import gemma_base_path
from simulator.values import EXACT_ROWS, SamplingSettings, Token

PROMPT = "Once upon a time, in a small village at the edge of a great forest, there lived"
TARGET = 1.7


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--samples", type=int, default=8)
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()

    simulator = Simulator(gemma_base_path(), n_threads=args.threads)
    settings = [
        SamplingSettings(temperature=0.8, top_p=0.95, top_k=40, max_tokens=args.tokens, seed=seed)
        for seed in range(1, args.samples + 1)
    ]

    # Without stop sequences every generated token comes out as one `Token` (a piece of a split character too).
    def batched(rows: int = FAST_ROWS) -> tuple[float, list[list[Token]]]:
        replies: list[list[Token]] = [[] for _ in settings]
        started = time.perf_counter()
        for index, step in simulator.continue_samples(PROMPT, settings, alternatives=5, rows=rows):
            if isinstance(step, Token):
                replies[index].append(step)
        return time.perf_counter() - started, replies

    def one_by_one() -> tuple[float, list[list[Token]]]:
        replies = []
        started = time.perf_counter()
        for setting in settings:
            steps = simulator.continue_document(PROMPT, setting, lane_key="bench", alternatives=5)
            replies.append([step for step in steps if not isinstance(step, Finished)])
        return time.perf_counter() - started, replies

    _, first = batched()  # warm-up: page in the weights, make both contexts, cache the prompt in both
    one_by_one()
    batched_rates, alone_rates, replayed = [], [], True
    for _ in range(args.rounds):
        alone_time, alone_replies = one_by_one()
        batched_time, batched_replies = batched()
        alone_rates.append(sum(map(len, alone_replies)) / alone_time)
        batched_rates.append(sum(map(len, batched_replies)) / batched_time)
        replayed = replayed and batched_replies == first
    exact = batched(EXACT_ROWS)[1] == alone_replies
    lone = [[s for _, s in simulator.continue_samples(PROMPT, settings[-1:], rows=FAST_ROWS) if isinstance(s, Token)]]
    replayed_alone = lone == first[-1:]
    batched_rate, alone_rate = statistics.median(batched_rates), statistics.median(alone_rates)
    ratio = batched_rate / alone_rate
    twins = sum(a == b for a, b in zip(first, alone_replies, strict=True))
    print(f"threads: {simulator.n_threads}, samples: {args.samples} x {args.tokens} tokens, rounds: {args.rounds}")
    print(f"one after another:  {alone_rate:6.1f} tokens/s (reference)")
    print(f"batched (fast):     {batched_rate:6.1f} tokens/s")
    print(f"replay: the batched group drawn {args.rounds + 1} times, identical (text, p, top-5): {_yes(replayed)}")
    print(f"replay: the last sample drawn again alone in the fast layout, identical: {_yes(replayed_alone)}")
    print(f"exact layout: batched samples identical to the same seeds alone: {_yes(exact)}")
    print(f"fast layout: samples identical to the same seed alone: {twins} of {args.samples} (may differ: last bits)")
    print(f"ratio: {ratio:.2f}  (target >= {TARGET}: {'met' if ratio >= TARGET else 'NOT met'})")
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    return 0 if ratio >= TARGET and replayed and replayed_alone and exact else 1


def _yes(ok: bool) -> str:
    return "yes" if ok else "NO"


if __name__ == "__main__":
    sys.exit(main())
