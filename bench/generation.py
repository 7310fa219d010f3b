"""Base-lane decode throughput with top-5 probabilities, against plain `Llama.create_completion`.

Both run the bundled gemma-3-270m with the same context size, threads, prompt, sampling and seed (the
reference on its own `Llama`, since the simulator's contexts are not `Llama` objects), alternating rounds
so that machine noise hits both alike. Prints tokens/s for each (median of the rounds) and the ratio; the
target is a ratio of at least 0.95. Both run a fixed thread count (`--threads`, every usable core unless given),
not the count fitted to the free cores (`simulator.threads`, `bench/contention.py`), so that this ratio is the
per-token cost of the probabilities alone. Lane decodes never carry activation capture (it runs on a context of its own,
`simulator.activations`), so this ratio is decode with capture off.

Then capture's own cost: the reply read again with every layer's residual recorded at every token
(`Simulator.capture`, what the drift meter and persona directions run), in ms per token, against the same read
with no layer recorded (the callback attached, the graph not split), and against a lane's decode per token.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

from simulator.base import Finished, Simulator, drain, load_llama
from simulator.bundled import gemma_base_path
from simulator.threads import FREE
from simulator.values import SamplingSettings

PROMPT = "Once upon a time, in a small village at the edge of a great forest, there lived"
TARGET = 0.95


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tokens", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()

    simulator = Simulator(gemma_base_path(), n_threads=args.threads or FREE.usable)
    reference = load_llama(gemma_base_path(), n_ctx=simulator.n_ctx, n_threads=simulator.n_threads)
    settings = SamplingSettings(temperature=0.8, top_p=0.95, top_k=40, max_tokens=args.tokens, seed=7)

    def ours() -> tuple[float, float]:
        started, cpu = time.perf_counter(), time.process_time()
        n = sum(
            1
            for step in simulator.continue_document(PROMPT, settings, lane_key="bench", alternatives=5)
            if not isinstance(step, Finished)
        )
        return n / (time.perf_counter() - started), (time.process_time() - cpu) * 1000 / n

    def plain() -> tuple[float, float]:
        reference.set_seed(7)
        started, cpu = time.perf_counter(), time.process_time()
        result = reference.create_completion(
            PROMPT, max_tokens=args.tokens, temperature=0.8, top_p=0.95, top_k=40, min_p=0.0, repeat_penalty=1.0, seed=7
        )
        n = result["usage"]["completion_tokens"]
        return n / (time.perf_counter() - started), (time.process_time() - cpu) * 1000 / n

    ours(), plain()  # warm-up: page in the weights, fill the prompt cache for both
    ours_runs, plain_runs = [], []
    for _ in range(args.rounds):
        plain_runs.append(plain())
        ours_runs.append(ours())
    (ours_rate, ours_cpu), (plain_rate, plain_cpu) = _medians(ours_runs), _medians(plain_runs)
    ratio = ours_rate / plain_rate
    print(f"threads: {simulator.n_threads}, tokens per run: {args.tokens}, rounds: {args.rounds}, load: {_load()}")
    print(f"plain create_completion:      {plain_rate:6.1f} tokens/s, {plain_cpu:5.2f} CPU ms/token (reference)")
    print(f"simulator with top-5 probs:   {ours_rate:6.1f} tokens/s, {ours_cpu:5.2f} CPU ms/token")
    # CPU time per token barely moves with other processes' load (wall time does): on a shared machine it is the
    # steadier view of the work each token costs, best read at --threads 1 (no thread waiting on another).
    print(f"CPU time per token, plain over ours: {plain_cpu / ours_cpu:.3f}")
    print(f"ratio: {ratio:.3f}  (target >= {TARGET}: {'met' if ratio >= TARGET else 'NOT met'})")
    capture_cost(simulator, settings, args.rounds, 1000 / ours_rate)
    return 0 if ratio >= TARGET else 1


def _medians(runs: list[tuple[float, float]]) -> tuple[float, float]:
    return statistics.median(r for r, _ in runs), statistics.median(c for _, c in runs)


def _load() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def capture_cost(simulator: Simulator, settings: SamplingSettings, rounds: int, decode_ms: float) -> None:
    steps = simulator.continue_document(PROMPT, settings, lane_key="bench")
    text = "".join(step.text for step in steps if not isinstance(step, Finished))
    n = len(simulator.tokenize(PROMPT + text)) - len(simulator.tokenize(PROMPT))

    def timed(read: object) -> float:
        started = time.perf_counter()
        read()  # type: ignore[operator]
        return (time.perf_counter() - started) * 1000 / n

    def captured() -> None:
        drain(simulator.capture(PROMPT, text))

    def scored() -> None:
        drain(simulator.capture(PROMPT, text, layers=()))

    captured(), scored()
    with_capture, without = [], []
    for _ in range(rounds):
        with_capture.append(timed(captured))
        without.append(timed(scored))
    on, off = statistics.median(with_capture), statistics.median(without)
    print(f"capture on, all {simulator.n_layer} layers:  {on:6.2f} ms/token ({n} tokens read again after the prompt)")
    print(f"same read, no layer recorded: {off:6.2f} ms/token (reference); recording costs {on / off:.2f}x")
    print(f"a lane's decode:              {decode_ms:6.2f} ms/token; capturing a reply costs {on / decode_ms:.2f}x it")


if __name__ == "__main__":
    sys.exit(main())
