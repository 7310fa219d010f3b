"""A local experiment against bench/samples.py's batched decode on the same settings: how much of the decode's speed
a run keeps once every sample is saved as it streams, scored and linked to its run.

The run: the bundled gemma under the assistant mask, 2 prompts x 8 samples (T 0.8, top-p 0.95, top-k 40, at most
32 tokens, top-5 alternatives), scored for `in_character` (the speaker tag's probability, which comes with the
prompt read, once per group) and `ended_by`; no scorer reads the mask effect, so no sample is read twice. The
reference: `Simulator.continue_samples` on the same two documents, settings, stops and seeds, in the same fast
layout (groups of 8, every live sample in one decode), so both draw the very same replies (checked) and the ratio
of their samples/s is the run's own overhead. Alternating rounds, medians. Target: at least 0.8.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from personas.catalog import load_mask  # noqa: E402
from personas.mask import HistoryTurn  # noqa: E402
from personas.suites import parse_suite_toml  # noqa: E402
from simulator.batch import FAST_ROWS  # noqa: E402
from simulator.metrics import cue  # noqa: E402
from simulator.protocol import Finished  # noqa: E402
from simulator.registry import Registry  # noqa: E402
from simulator.values import SamplingSettings, Token  # noqa: E402
from storage.db import make_engine  # noqa: E402
from ui.service.experiments.service import Experiments  # noqa: E402

QUESTIONS = ["What should I cook tonight?", "How do tides work?"]
SAMPLES, TOKENS, SEED, TARGET = 8, 32, 500, 0.8
SETTINGS = {"temperature": 0.8, "top_p": 0.95, "top_k": 40, "max_tokens": TOKENS}

SUITE = f"""
name = "local-speed"
lanes = ["base@assistant"]
samples = {SAMPLES}
seed = {SEED}
[settings]
temperature = {SETTINGS["temperature"]}
top_p = {SETTINGS["top_p"]}
top_k = {SETTINGS["top_k"]}
max_tokens = {TOKENS}
{"".join(f'[[prompts]]{chr(10)}text = "{q}"{chr(10)}' for q in QUESTIONS)}
[[scorers]]
name = "in_character"
kind = "in_character"
[[scorers]]
name = "spoke_for_user"
kind = "ended_by"
ended = ["user_turn"]
"""


def experiment(registry: Registry, database: Path) -> tuple[float, list[str]]:
    """Samples/s of one run on a fresh database (from the first sample asked to the last linked), and its replies
    in cell and sample order."""
    engine = make_engine(f"sqlite:///{database}")
    service = Experiments(engine, registry)
    run_id = service.start(parse_suite_toml(SUITE, "local-speed.toml"))
    started = time.perf_counter()
    progress = list(service.execute(run_id))
    elapsed = time.perf_counter() - started
    if progress[-1].status != "complete":
        raise SystemExit(f"the run ended {progress[-1].status}")
    report = service.report(run_id)
    cells = [cell for lane in report.lanes for cell in lane.cells]
    texts = [s.text or "" for cell in cells for s in sorted(cell.samples, key=lambda s: s.index)]
    engine.dispose()
    return len(QUESTIONS) * SAMPLES / elapsed, texts


def reference(registry: Registry) -> tuple[float, list[str]]:
    """Samples/s of the batched decode alone on the run's documents, settings, stops and seeds."""
    simulator = registry.local_simulator(registry.entries["base"])
    mask = load_mask("assistant")
    texts: list[str] = []
    started = time.perf_counter()
    for question in QUESTIONS:
        document = mask.render([HistoryTurn(role="user", text=question)])
        settings = [SamplingSettings(**SETTINGS, stop=mask.stop_sequences(), seed=SEED + i) for i in range(SAMPLES)]
        replies = [""] * SAMPLES
        steps = simulator.continue_samples(document, settings, alternatives=5, cue=cue(mask, document), rows=FAST_ROWS)
        for index, step in steps:
            if isinstance(step, Token):
                replies[index] += step.text
            elif not isinstance(step, Finished):
                raise SystemExit(f"unexpected step {step!r}")
        texts += replies
    return len(QUESTIONS) * SAMPLES / (time.perf_counter() - started), texts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    registry = Registry()
    ours, plain, same = [], [], True
    with tempfile.TemporaryDirectory() as folder:
        experiment(registry, Path(folder) / "warm.db")  # load the model, make the contexts
        reference(registry)
        for i in range(args.rounds):
            rate, texts = experiment(registry, Path(folder) / f"run{i}.db")
            ours.append(rate)
            rate, expected = reference(registry)
            plain.append(rate)
            same = same and [t.strip() for t in texts] == [t.strip() for t in expected]
    ratio = statistics.median(ours) / statistics.median(plain)
    print(f"{len(QUESTIONS)} prompts x {SAMPLES} samples, at most {TOKENS} tokens, {args.rounds} alternating rounds")
    print(f"batched decode alone (reference): {statistics.median(plain):5.2f} samples/s")
    print(f"local experiment:                 {statistics.median(ours):5.2f} samples/s")
    print(f"the run's replies are the decode's, token for token: {'yes' if same else 'NO'}")
    print(f"ratio: {ratio:.2f} (target >= {TARGET})")
    return 0 if ratio >= TARGET and same else 1


if __name__ == "__main__":
    sys.exit(main())
