"""A ten-turn conversation in three local lanes (base@assistant, base@interview, chat), models warm.

Each base lane keeps its own KV cache, so a turn should read only what is new in its document (the last
reply and the new message) however long the conversation gets. Each round is a new conversation (its first
message names the round, so no cache holds it yet); figures are medians over the rounds. Prints per turn:
every lane's time to first token from sending; each lane's own first step; the time until all three lanes
stream; and, for the base lanes in the last round, how many prompt tokens their context read (llama.cpp's
own count) out of their document's length.

Why a lane's own first step: the one local worker runs the lanes' first steps one after another, so which
lane streams first changes from turn to turn (about 100 vs 350 ms here) whatever the conversation's length.
A lane's own first step is its time to first token minus that of the lane that began streaming just before
it: the time the worker spent reading that lane's new tokens and choosing its first one. Target: turn 10 at
most 2 x turn 2 (the reference, measured in the same run; turn 1 reads the masks' frames), for every lane's
own first step and for the time until all lanes stream.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import llama_cpp

from personas.catalog import load_mask
from personas.mask import HistoryTurn
from simulator.registry import Registry
from simulator.turn import LaneConfig, run_turn
from simulator.values import SamplingSettings

TARGET = 2.0
MESSAGES = [
    "Hello! I am planning a trip to Italy next spring.",
    "Which city should I visit first?",
    "What is the best way to get from Rome to Florence?",
    "How many days would you spend in Florence?",
    "What food should I try there?",
    "Is it expensive to eat out in Italy?",
    "Do I need to book museums in advance?",
    "What is a good day trip from Florence?",
    "Should I rent a car or take trains?",
    "Thank you. Any last advice before I go?",
]


LANES = [("base", "assistant"), ("base", "interview"), ("chat", None)]  # (model, mask)


def lanes(max_tokens: int) -> list[LaneConfig]:
    settings = SamplingSettings(temperature=0.0, max_tokens=max_tokens, seed=1)
    return [
        LaneConfig(
            f"{model}@{mask}" if mask else model, model, load_mask(mask) if mask else None, settings, key=mask or model
        )
        for model, mask in LANES
    ]


def prompt_tokens_read(registry: Registry, key: str) -> int:
    """How many prompt tokens the lane's context has read since the last call (llama.cpp's counter)."""
    with registry.simulator(registry.resolve("base")).borrow(key) as context:
        read = int(llama_cpp.llama_perf_context(context.handle).n_p_eval)
        llama_cpp.llama_perf_context_reset(context.handle)
        return read


def one_turn(
    configs: list[LaneConfig], histories: list[list[HistoryTurn]], registry: Registry
) -> tuple[list[float], list[str], list[int]]:
    """Time to first token (ms) and the reply of every lane, and each lane's document length in tokens."""
    started = time.perf_counter()
    first: dict[int, float] = {}
    texts = [""] * len(configs)
    lengths = [0] * len(configs)
    for event in run_turn(configs, histories, registry):
        i = event.lane_index
        if event.kind == "start" and isinstance(event.prompt, str):
            lengths[i] = len(registry.simulator(registry.resolve("base")).tokenize(event.prompt))
        elif event.kind == "token" and event.token is not None:
            first.setdefault(i, (time.perf_counter() - started) * 1000)
            texts[i] += event.token.text
        elif event.kind == "error":
            raise SystemExit(f"lane {configs[i].label} failed: {event.error}")
    return [first.get(i, float("nan")) for i in range(len(configs))], texts, lengths


def conversation(registry: Registry, configs: list[LaneConfig], number: int, *, show: bool) -> list[list[float]]:
    """One ten-turn conversation; its first message names the round, so no cache holds any of it yet."""
    base_lanes = [i for i, c in enumerate(configs) if c.model == "base"]
    histories: list[list[HistoryTurn]] = [[] for _ in configs]
    ttfts: list[list[float]] = []
    for turn, message in enumerate(MESSAGES, start=1):
        text = f"This is call number {number}. {message}" if turn == 1 else message
        for history in histories:
            history.append(HistoryTurn(role="user", text=text))
        for i in base_lanes:
            prompt_tokens_read(registry, configs[i].key)
        firsts, texts, lengths = one_turn(configs, histories, registry)
        reads = {i: prompt_tokens_read(registry, configs[i].key) for i in base_lanes}
        if show:
            cells = [f"{ms:.0f}" + (f" ({reads[i]}/{lengths[i]})" if i in reads else "") for i, ms in enumerate(firsts)]
            print(f"{turn:>4}  " + "".join(f"{cell:>24}" for cell in cells) + f"{max(firsts):>12.0f}", flush=True)
        ttfts.append(firsts)
        for history, reply in zip(histories, texts, strict=True):
            if reply.strip():
                history.append(HistoryTurn(role="character", text=reply.strip()))
    return ttfts


def own_steps(firsts: list[float]) -> list[float]:
    """Each lane's time to first token minus that of the lane that began streaming just before it."""
    return [ms - max((other for other in firsts if other < ms), default=0.0) for ms in firsts]


def summary(rounds: list[list[list[float]]], labels: list[str]) -> bool:
    """Print the medians per turn and the turn 10 / turn 2 ratios; True when every ratio meets the target."""

    def median(figure: int, turn: int, rows: list[list[list[float]]]) -> float:
        return statistics.median(r[turn][figure] for r in rows)

    own = [[own_steps(turn) for turn in r] for r in rounds]
    every = [[[max(turn)] for turn in r] for r in rounds]
    print(f"median of {len(rounds)} rounds, ms: time to first token from sending (own first step); all lanes")
    for t in range(len(MESSAGES)):
        cells = [f"{median(i, t, rounds):.0f} ({median(i, t, own):.0f})" for i in range(len(labels))]
        print(f"{t + 1:>4}  " + "".join(f"{c:>24}" for c in cells) + f"{median(0, t, every):>12.0f}")
    met = True
    for name, rows, i in [
        *((f"{label} own first step", own, i) for i, label in enumerate(labels)),
        ("all lanes streaming", every, 0),
    ]:
        late, early = median(i, len(MESSAGES) - 1, rows), median(i, 1, rows)
        met &= late / early <= TARGET
        print(
            f"{name}: turn 10 {late:.0f} ms vs turn 2 {early:.0f} ms (reference): ratio {late / early:.2f}"
            f"  (target <= {TARGET}: {'met' if late / early <= TARGET else 'NOT met'})"
        )
    return met


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--max-tokens", type=int, default=48)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    configs = lanes(args.max_tokens)
    registry = Registry()
    registry.warm()
    print("last round: time to first token from sending, ms (base lanes: prompt tokens read / document tokens)")
    print("turn  " + "".join(f"{c.label:>24}" for c in configs) + f"{'all lanes':>12}")
    rounds = [conversation(registry, configs, n, show=n == args.rounds) for n in range(1, args.rounds + 1)]
    return 0 if summary(rounds, [c.label for c in configs]) else 1


if __name__ == "__main__":
    sys.exit(main())
