"""Real servers on 127.0.0.1 for the remote-lane tests: llama-cpp-python's OpenAI-compatible server with the
bundled gemma base model, and Python's own static file server, which answers with whatever files it is given
(an HTML page, text that is not JSON): what a lane pointed at the wrong address really meets. `canned_server`
is a stand-in for the one fault those cannot show on demand: a completions endpoint answering JSON of another
shape, as some servers and proxies do."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from tests.support.processes import free_port, stop_process, wait_for_server

GEMMA_ALIAS = "gemma-base"


@contextmanager
def base_server(log: Path, *, n_ctx: int = 1024, threads: int = 1) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """`python -m llama_cpp.server` serving the bundled gemma base GGUF as `gemma-base` (see llama_server)."""
    from simulator.bundled import gemma_base_path

    options = ["--model_alias", GEMMA_ALIAS, "--n_ctx", str(n_ctx), "--n_threads", str(threads)]
    # By default a new request cuts off the one streaming (its reply ends early, "closed mid-reply"): samples and
    # several remote lanes send requests at once. README says to start it this way.
    options += ["--interrupt_requests", "False"]
    with llama_server(log, gemma_base_path(), options) as running:
        yield running


@contextmanager
def static_server(root: Path, files: dict[str, str]) -> Iterator[str]:
    """`python -m http.server` serving `files` (path -> text) from `root`; yields its address."""
    for name, text in files.items():
        target = root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1", "--directory", str(root)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_server(f"{url}/", process, timeout=30)
        yield url
    finally:
        stop_process(process)


@contextmanager
def canned_server(answers: dict[str, str]) -> Iterator[str]:
    """A stand-in server answering GET or POST on each path in `answers` (path -> JSON text) with that text,
    and 404 elsewhere; yields its address."""

    class Canned(BaseHTTPRequestHandler):
        def log_message(self, *_: object) -> None:
            pass  # keep the test's output clean

        def do_GET(self) -> None:  # noqa: N802 - the name http.server calls
            body = answers.get(self.path)
            data = (body if body is not None else "{}").encode()
            self.send_response(200 if body is not None else 404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self) -> None:  # noqa: N802 - the name http.server calls
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.do_GET()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Canned)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@contextmanager
def chat_server(log: Path) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """llama-cpp-python's OpenAI-compatible server with the bundled SmolLM2 on one thread (see llama_server)."""
    from simulator.bundled import smollm2_chat_path

    with llama_server(log, smollm2_chat_path(), ["--n_ctx", "1024", "--n_threads", "1"]) as running:
        yield running


@contextmanager
def llama_server(log: Path, model: Path, options: list[str]) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """`python -m llama_cpp.server` serving `model` with `options`, its output in `log`; yields the process and
    its base URL (`.../v1`) once it answers, and stops it on the way out (continuing it first if a test SIGSTOPped
    it: a stopped process would not act on SIGTERM)."""
    port = free_port()
    command = [sys.executable, "-m", "llama_cpp.server", "--model", str(model)]
    command += ["--host", "127.0.0.1", "--port", str(port), *options]
    env = {**os.environ, "GOMP_SPINCOUNT": "10000"}  # see simulator/__init__.py
    with log.open("w") as output:  # a file, not a pipe: llama.cpp's loading chatter would fill a pipe and block
        process = subprocess.Popen(command, env=env, stdout=output, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}/v1"
    try:
        wait_for_server(f"{base}/models", process, timeout=120, log=log)
        yield process, base
    finally:
        if process.poll() is None:
            os.kill(process.pid, signal.SIGCONT)
        stop_process(process)
