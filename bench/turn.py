"""A three-lane local turn (base@raw, base@assistant, chat), with the models warm.

Measures each lane's time to first token from the moment the turn is sent (target: within 1.5 s), and
the turn's wall time against the sum of the same three lanes run one at a time in the same run
(target: at most 1.15 x). Every run sends a message no context
has seen, so each includes processing the new prompt tokens, as a real turn does.
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import sys
import time

from personas.catalog import load_mask
from personas.mask import HistoryTurn
from simulator.registry import Registry
from simulator.turn import LaneConfig, run_turn
from simulator.values import SamplingSettings

PROMPT = "What is the capital of France? Tell me a little about the city."
TTFT_TARGET_MS = 1500.0
WALL_TARGET = 1.15

_questions = itertools.count(1)


def lanes(max_tokens: int) -> list[LaneConfig]:
    settings = SamplingSettings(temperature=0.0, max_tokens=max_tokens, seed=1)
    return [
        LaneConfig("base@raw", "base", load_mask("raw"), settings, key="raw"),
        LaneConfig("base@assistant", "base", load_mask("assistant"), settings, key="assistant"),
        LaneConfig("chat", "chat", None, settings, key="chat"),
    ]


def timed_turn(configs: list[LaneConfig], registry: Registry) -> tuple[float, dict[int, float], dict[int, int]]:
    # A new question number each run: like a user's new message, it is not in any KV cache yet.
    history = [HistoryTurn(role="user", text=f"Question {next(_questions)}. {PROMPT}")]
    started = time.perf_counter()
    first: dict[int, float] = {}
    counts: dict[int, int] = dict.fromkeys(range(len(configs)), 0)
    for event in run_turn(configs, [history] * len(configs), registry):
        if event.kind == "token":
            counts[event.lane_index] += 1
            first.setdefault(event.lane_index, (time.perf_counter() - started) * 1000)
        if event.kind == "error":
            raise SystemExit(f"lane {configs[event.lane_index].label} failed: {event.error}")
    return time.perf_counter() - started, first, counts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    registry = Registry()
    registry.warm()
    timed_turn(lanes(args.max_tokens), registry)  # warm-up: load every context once

    walls, sums, ttfts = [], [], []
    for _ in range(args.rounds):
        wall, first, counts = timed_turn(lanes(args.max_tokens), registry)
        alone = [timed_turn([config], registry)[0] for config in lanes(args.max_tokens)]
        walls.append(wall)
        sums.append(sum(alone))
        ttfts.append(max(first.values()))
        print(
            f"  turn {wall:5.2f} s, lanes alone {' + '.join(f'{a:.2f}' for a in alone)} = {sum(alone):5.2f} s,"
            f" first tokens at {', '.join(f'{first[i]:.0f}' for i in sorted(first))} ms,"
            f" tokens {', '.join(str(counts[i]) for i in sorted(counts))}"
        )
    wall, alone_sum, slowest_first = statistics.median(walls), statistics.median(sums), max(ttfts)
    ratio = wall / alone_sum
    print(f"three-lane turn wall time: {wall:.2f} s; sum of the lanes alone (reference): {alone_sum:.2f} s")
    print(f"ratio: {ratio:.3f}  (target <= {WALL_TARGET}: {'met' if ratio <= WALL_TARGET else 'NOT met'})")
    print(
        f"slowest lane's first token: {slowest_first:.0f} ms after sending"
        f"  (target <= {TTFT_TARGET_MS:.0f} ms: {'met' if slowest_first <= TTFT_TARGET_MS else 'NOT met'})"
    )
    return 0 if ratio <= WALL_TARGET and slowest_first <= TTFT_TARGET_MS else 1


if __name__ == "__main__":
    sys.exit(main())
