"""Batched samples against the same samples drawn one after another, with top-5 probabilities on in both.

Eight samples of 64 tokens from one document on the bundled gemma-3-270m (temperature 0.8, seeds 1..8):
`Simulator.continue_samples` (prompt read once, its cache copied to eight sequences, one shared decode per
step in groups of three) against `Simulator.continue_document` eight times, alternating rounds so that machine
noise hits both alike. Prints the total tokens/s of each (median of the rounds), the ratio (target: at least 2;
llama.cpp's own `llama-batched-bench` measured about 2.3x for 8 sequences against 1 on the 2-core machine), and
whether every batched sample is the reply (text, probabilities, alternatives) its seed gives alone.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

from simulator.base import Finished, Simulator
from simulator.bundled import gemma_base_path
from simulator.values import SamplingSettings, Token

PROMPT = "Once upon a time, in a small village at the edge of a great forest, there lived"
TARGET = 2.0


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
    def batched() -> tuple[float, list[list[Token]]]:
        replies: list[list[Token]] = [[] for _ in settings]
        started = time.perf_counter()
        for index, step in simulator.continue_samples(PROMPT, settings, alternatives=5):
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

    batched(), one_by_one()  # warm-up: page in the weights, make both contexts, cache the prompt in both
    batched_rates, alone_rates, same = [], [], True
    for _ in range(args.rounds):
        alone_time, alone_replies = one_by_one()
        batched_time, batched_replies = batched()
        alone_rates.append(sum(map(len, alone_replies)) / alone_time)
        batched_rates.append(sum(map(len, batched_replies)) / batched_time)
        same = same and batched_replies == alone_replies
    batched_rate, alone_rate = statistics.median(batched_rates), statistics.median(alone_rates)
    ratio = batched_rate / alone_rate
    print(f"threads: {simulator.n_threads}, samples: {args.samples} x {args.tokens} tokens, rounds: {args.rounds}")
    print(f"one after another:  {alone_rate:6.1f} tokens/s (reference)")
    print(f"batched:            {batched_rate:6.1f} tokens/s")
    print(f"batched samples identical to the same seeds alone (text, p, top-5): {'yes' if same else 'NO'}")
    print(f"ratio: {ratio:.2f}  (target >= {TARGET}: {'met' if ratio >= TARGET else 'NOT met'})")
    return 0 if ratio >= TARGET and same else 1


if __name__ == "__main__":
    sys.exit(main())
