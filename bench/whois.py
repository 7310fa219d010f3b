"""Who is speaking? on a 200-token reply under 4 masks, against a plain forward pass of the same tokens.

The reply is real: the bundled base model writes it under the assistant mask at temperature 0.8. "Who is speaking?"
reads each mask's document and the reply in one pass and keeps every reply token's log-probability (a log-sum-exp
over gemma's 262k logits per token, and decodes of at most 16 logit rows); the reference reads the very same tokens
(each mask's document and the reply) with only the last position's logits, as a prompt is read before sampling.
Both start from empty caches every round, and the rounds alternate; the ratio is the median of their times.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

# Run as a script, this file's folder comes first on the import path, and bench/storage.py would hide the
# storage package that ui.service imports.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.append(str(Path(__file__).resolve().parents[1]))

import simulator  # noqa: E402, F401 - sets GOMP_SPINCOUNT before llama.cpp loads
from personas.catalog import load_mask  # noqa: E402
from personas.mask import HistoryTurn  # noqa: E402
from simulator.base import Finished, Simulator, drain  # noqa: E402
from simulator.contexts import read_prompt  # noqa: E402
from simulator.registry import Registry  # noqa: E402
from simulator.scoring import document_for  # noqa: E402
from simulator.values import SamplingSettings  # noqa: E402
from ui.service.inside.whois import score, spoken  # noqa: E402

MASKS = ("assistant", "raw", "rogue-ai", "shakespeare")
HISTORY = [HistoryTurn(role="user", text="Tell me everything you know about the history of Paris.")]


def reply_of(base: Simulator, n_tokens: int, seed: int) -> str:
    """A real reply of `n_tokens` under the assistant mask, continued past any early end."""
    document, text, count = document_for(load_mask("assistant"), HISTORY), "", 0
    while count < n_tokens:
        settings = SamplingSettings(temperature=0.8, max_tokens=n_tokens - count, seed=seed + count)
        tokens = [t for t in base.continue_document(document + text, settings) if not isinstance(t, Finished)]
        text += "".join(t.text for t in tokens)
        count += len(tokens)
    return text.strip()


def cold(base: Simulator) -> None:
    # Empty every cache, so both sides read every token: a scoring context would otherwise keep a document's prefix.
    for pool in (base._scoring, base._lanes):  # noqa: SLF001 - a benchmark resets what the app keeps warm
        pool.close()


def plain(base: Simulator, texts: list[tuple[str, str]]) -> float:
    cold(base)
    started = time.perf_counter()
    context = base._scoring.acquire([], "plain")  # noqa: SLF001 - the same kind of context whois reads on
    try:
        for document, text in texts:
            context.truncate(0)
            drain(read_prompt(context, base.tokenize(document + text), range(0), last=True))
    finally:
        base._scoring.release(context, "plain")  # noqa: SLF001
    return time.perf_counter() - started


def whois(registry: Registry, base: Simulator, text: str) -> float:
    cold(base)
    started = time.perf_counter()
    score(registry, "base", [load_mask(m) for m in MASKS], HISTORY, text)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tokens", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args()
    registry = Registry(n_ctx=2048, n_threads=args.threads)
    try:
        base = registry.local_simulator(registry.resolve("base"))
        text = reply_of(base, args.tokens, args.seed)
        pairs = [(document_for(load_mask(m), HISTORY), spoken(load_mask(m), text)) for m in MASKS]
        n_reply = len(base.tokenize(pairs[0][0] + pairs[0][1])) - len(base.tokenize(pairs[0][0]))
        n_all = sum(len(base.tokenize(d + t)) for d, t in pairs)
        whois(registry, base, text)  # warm up: the first decode in a process allocates llama.cpp's buffers
        times: dict[str, list[float]] = {"whois": [], "plain": []}
        for _ in range(args.rounds):
            times["whois"].append(whois(registry, base, text))
            times["plain"].append(plain(base, pairs))
    finally:
        registry.close()
    w, p = statistics.median(times["whois"]), statistics.median(times["plain"])
    print(f"who is speaking? {len(MASKS)} masks x a {n_reply}-token reply ({n_all} tokens read in all),")
    print(f"{args.threads} threads, median of {args.rounds} alternating rounds from empty caches:")
    print(f"  who is speaking (every reply token's log-probability): {w * 1000:7.0f} ms")
    print(f"  plain forward pass of the same tokens (last logits):   {p * 1000:7.0f} ms")
    print(f"  ratio: {w / p:.2f}")


if __name__ == "__main__":
    main()
