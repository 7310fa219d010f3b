"""An experiment on a remote base lane, against a plain asyncio/httpx client sending the same requests to the same
server with the same concurrency.

The server has 8 slots. By default it is the stand-in in tests/support/slot_server.py (8 slots, a fixed time per
token), in a process of its own as any server is: it measures our client, not a model, because no CPU llama.cpp
server here serves 8 requests at once without its own decode being the bottleneck. `--llama-server PATH` runs
llama.cpp's own `llama-server -np 8` on the bundled gemma instead (`make llama-server` builds one). Each round draws
64 samples of 32 tokens (8 prompts x 8 seeds): the experiment (saved, scored and linked to its run, as any run's
samples are), then the plain client, in alternating rounds; the experiment is also drawn at concurrency 1, so the
speed-up is visible.
Target: the experiment's samples/s is at least 0.85 of the plain client's at concurrency 8.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from personas.catalog import load_mask  # noqa: E402
from personas.mask import HistoryTurn  # noqa: E402
from personas.suites import parse_suite_toml  # noqa: E402
from simulator.registry import ModelEntry, Registry  # noqa: E402
from simulator.remote_apis import llama_server_body  # noqa: E402
from simulator.values import SamplingSettings  # noqa: E402
from storage.db import make_engine  # noqa: E402
from ui.service.experiments.service import Experiments  # noqa: E402

SLOTS, PROMPTS, SEEDS, TOKENS = 8, 8, 8, 32
TARGET = 0.85
QUESTIONS = [f"Name a colour, friend number {i}." for i in range(PROMPTS)]


def suite_toml() -> str:
    prompts = "".join(f'[[prompts]]\ntext = "{q}"\n' for q in QUESTIONS)
    return f"""
name = "slots"
lanes = ["server@assistant"]
samples = {SEEDS}
seed = 1
[settings]
temperature = 0.8
max_tokens = {TOKENS}
{prompts}
[[scorers]]
name = "says_w"
kind = "contains"
text = ["w1"]
"""


def experiment(url: str, concurrency: int, database: Path) -> float:
    """Samples per second of one run on a fresh database, from start to its last sample."""
    entry = ModelEntry(name="server", kind="simulator", api="llama-server", api_base=url, max_concurrency=concurrency)
    registry = Registry(extra=[entry])
    engine = make_engine(f"sqlite:///{database}")
    service = Experiments(engine, registry)
    run_id = service.start(parse_suite_toml(suite_toml(), "slots.toml"))
    started = time.monotonic()
    progress = list(service.execute(run_id))
    elapsed = time.monotonic() - started
    engine.dispose()
    if progress[-1].status != "complete" or progress[-1].samples_done != PROMPTS * SEEDS:
        raise SystemExit(f"the run ended {progress[-1].status} with {progress[-1].samples_done} samples")
    return PROMPTS * SEEDS / elapsed


async def _plain(url: str, documents: list[str], concurrency: int) -> float:
    gate = asyncio.Semaphore(concurrency)
    # A connection per request, as a lane opens: llama-server hangs up kept-alive connections between requests.
    limits = httpx.Limits(max_keepalive_connections=0)
    async with httpx.AsyncClient(base_url=url, timeout=120, limits=limits) as client:

        async def one(document: str, seed: int) -> None:
            settings = SamplingSettings(temperature=0.8, max_tokens=TOKENS, seed=seed)
            body = llama_server_body(document, settings, 5, stream=True)
            async with gate, client.stream("POST", "/completion", json=body) as response:
                async for line in response.aiter_lines():
                    if line.startswith("data: ") and '"stop": true' in line:
                        break

        started = time.monotonic()
        await asyncio.gather(*(one(d, seed) for d in documents for seed in range(1, SEEDS + 1)))
        return len(documents) * SEEDS / (time.monotonic() - started)


def plain_client(url: str, concurrency: int) -> float:
    mask = load_mask("assistant")
    documents = [mask.render([HistoryTurn(role="user", text=q)]) for q in QUESTIONS]
    return asyncio.run(_plain(url, documents, concurrency))


@contextmanager
def stand_in(token_ms: float) -> Iterator[str]:
    command = [sys.executable, "-m", "tests.support.slot_server", str(SLOTS), str(token_ms)]
    process = subprocess.Popen(command, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None and process.stdin is not None
    try:
        yield process.stdout.readline().strip()
    finally:
        process.stdin.close()
        process.wait()


@contextmanager
def llama_server(binary: Path) -> Iterator[str]:
    from simulator.bundled import gemma_base_path

    port = 8000 + (hash(binary) % 1000)
    command = [str(binary), "-m", str(gemma_base_path()), "--port", str(port), "-np", str(SLOTS), "-c", "8192"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                time.sleep(0.3)
        yield url
    finally:
        process.terminate()
        process.wait()


def listed(rates: list[float]) -> str:
    return ", ".join(f"{rate:.2f}" for rate in rates)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--token-ms", type=float, default=10.0, help="the stand-in's time per token")
    parser.add_argument("--llama-server", type=Path, help="run llama.cpp's llama-server -np 8 instead of the stand-in")
    args = parser.parse_args()
    server: AbstractContextManager[str]
    if args.llama_server:
        server = llama_server(args.llama_server)
        label = f"llama-server -np {SLOTS} (bundled gemma)"
    else:
        server = stand_in(args.token_ms)
        label = f"stand-in server, {SLOTS} slots, {args.token_ms:g} ms a token"
    ours, plain = [], []
    with server as url, tempfile.TemporaryDirectory() as folder:
        one_at_a_time = experiment(url, 1, Path(folder) / "one.db")
        for i in range(args.rounds):
            ours.append(experiment(url, SLOTS, Path(folder) / f"run{i}.db"))
            plain.append(plain_client(url, SLOTS))
    ours_s, plain_s = statistics.median(ours), statistics.median(plain)
    ratio = ours_s / plain_s
    print(f"{label}: {PROMPTS * SEEDS} samples of {TOKENS} tokens, {args.rounds} alternating rounds")
    print(f"experiment, concurrency 1:   {one_at_a_time:6.2f} samples/s")
    print(f"experiment, concurrency {SLOTS}:   {ours_s:6.2f} samples/s  ({listed(ours)})")
    print(f"plain httpx, concurrency {SLOTS}:  {plain_s:6.2f} samples/s  ({listed(plain)})")
    print(f"experiment / plain client: {ratio:.2f} (target >= {TARGET})")
    print(f"experiment at concurrency {SLOTS} / at 1: {ours_s / one_at_a_time:.1f}x")
    return 0 if ratio >= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
