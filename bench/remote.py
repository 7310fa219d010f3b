"""A remote base lane against `python -m llama_cpp.server` serving the bundled gemma, vs a plain httpx client.

Both send the same request (the same document, 64 tokens at temperature 0, top-5 logprobs, streamed) to the
same server, in alternating rounds; each is timed from its first token to its last, so the server's prompt
processing is left out of both. Target: the lane streams at least 0.9x the plain client's tokens/s.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import httpx

from simulator.bundled import gemma_base_path
from simulator.remote import RemoteSimulator
from simulator.remote_apis import openai_body
from simulator.values import SamplingSettings, Token
from simulator.watchdog import Timeouts

DOCUMENT = "Once upon a time, in a small village by the sea, there lived"
TARGET = 0.9


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(log: Path, threads: int) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    command = [sys.executable, "-m", "llama_cpp.server", "--model", str(gemma_base_path()), "--model_alias", "gemma"]
    command += ["--host", "127.0.0.1", "--port", str(port), "--n_ctx", "1024", "--n_threads", str(threads)]
    command += ["--interrupt_requests", "False"]
    with log.open("w") as output:
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{base}/models", timeout=2):
                return process, base
        except OSError:
            time.sleep(0.3)
    process.kill()
    raise SystemExit(f"llama_cpp.server did not start; see {log}")


def plain_client(base: str, settings: SamplingSettings) -> tuple[int, float]:
    """Tokens and seconds from the first token to the last, reading the SSE stream with nothing but httpx."""
    body = openai_body("gemma", DOCUMENT, settings, 5, stream=True)
    count, first = 0, None
    with httpx.Client(timeout=120) as client, client.stream("POST", f"{base}/completions", json=body) as response:
        for line in response.iter_lines():
            if not line.startswith("data:") or line.strip() == "data: [DONE]":
                continue
            choice = json.loads(line[5:])["choices"][0]
            if choice.get("logprobs"):
                count += 1
                first = first or time.perf_counter()
    assert first is not None
    return count, time.perf_counter() - first


def remote_lane(remote: RemoteSimulator, settings: SamplingSettings) -> tuple[int, float]:
    count, first = 0, None
    for step in remote.continue_document(DOCUMENT, settings, alternatives=5):
        if isinstance(step, Token):
            count += 1
            first = first or time.perf_counter()
    assert first is not None
    return count, time.perf_counter() - first


def rounds(rates: list[float]) -> str:
    return ", ".join(f"{rate:.2f}" for rate in rates)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    settings = SamplingSettings(temperature=0.0, max_tokens=args.tokens, seed=1)
    log = Path(tempfile.mkdtemp()) / "server.log"
    process, base = start_server(log, args.threads)
    try:
        remote = RemoteSimulator("remote-gemma", "openai-completions", base, timeouts=Timeouts())
        remote.probe()
        plain_client(base, settings)  # warm-up: the first request pays for loading
        lane_rates, plain_rates = [], []
        for _ in range(args.rounds):  # alternating, so a slower moment of the machine hits both
            count, seconds = remote_lane(remote, settings)
            lane_rates.append((count - 1) / seconds)
            count, seconds = plain_client(base, settings)
            plain_rates.append((count - 1) / seconds)
        lane, plain = statistics.median(lane_rates), statistics.median(plain_rates)
        print(f"remote lane (top-5, stops, watchdog): {lane:.2f} tokens/s  (rounds: {rounds(lane_rates)})")
        print(f"plain httpx client, same request:     {plain:.2f} tokens/s  (rounds: {rounds(plain_rates)})")
        ratio = lane / plain
        print(f"ratio {ratio:.2f} (target >= {TARGET}): {'ok' if ratio >= TARGET else 'BELOW TARGET'}")
    finally:
        os.kill(process.pid, signal.SIGTERM)
        process.wait(timeout=10)


if __name__ == "__main__":
    main()
