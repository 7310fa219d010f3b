"""A stand-in llama-server for benchmarks: N slots and a fixed time per token, and nothing else.

It measures a client, not a model: no CPU llama.cpp server here serves 8 requests at once without its own
decode becoming the bottleneck, so a client's overhead would hide behind it. It speaks llama.cpp llama-server's
native API as far as Simulacra's remote base lane uses it: `/v1/models`, `/props` (with `total_slots`, which
the lane's concurrency is read from), and `/completion`, streamed (SSE) or not, with `n_probs` alternatives.
A request waits for a free slot, then takes `token_s` per token it sends. `peak` is the most requests it has
had at once, served or waiting for a slot: what a client sent beyond the slots shows there.
"""

from __future__ import annotations

import json
import math
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

MODEL = "stand-in"


class SlotServer:
    """`with SlotServer(slots=8, token_s=0.01) as server:`; `server.url` is `http://127.0.0.1:PORT`."""

    def __init__(self, *, slots: int, token_s: float) -> None:
        self.slots = slots
        self.token_s = token_s
        self.gate = threading.BoundedSemaphore(slots)
        self.serving = self.peak = 0
        self._count = threading.Lock()
        self._http = _Server(("127.0.0.1", 0), _Handler)
        self._http.owner = self  # type: ignore[attr-defined]
        self.url = f"http://127.0.0.1:{self._http.server_address[1]}"

    def __enter__(self) -> SlotServer:
        threading.Thread(target=self._http.serve_forever, name="slot-server", daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._http.shutdown()
        self._http.server_close()

    def serve(self, step: int) -> None:
        with self._count:
            self.serving += step
            self.peak = max(self.peak, self.serving)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128


def _token(i: int, k: int) -> dict[str, Any]:
    text = f" w{i % 10}"
    top = [{"token": f" w{(i + j) % 10}", "logprob": math.log(0.5 / (j + 1))} for j in range(k)]
    return {"token": text, "logprob": math.log(0.5), "top_logprobs": top}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: object) -> None:
        pass

    def _json(self, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        owner: SlotServer = self.server.owner  # type: ignore[attr-defined]
        if self.path.endswith("/models"):
            self._json({"object": "list", "data": [{"id": MODEL, "object": "model"}]})
        elif self.path.endswith("/props"):
            self._json({"total_slots": owner.slots, "default_generation_settings": {"n_ctx": 4096}})
        else:
            self._json({"status": "ok"})

    def do_POST(self) -> None:
        owner: SlotServer = self.server.owner  # type: ignore[attr-defined]
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
        n, k = max(1, int(body.get("n_predict") or 16)), int(body.get("n_probs") or 0)
        owner.serve(1)
        try:
            with owner.gate:
                self._complete(owner, body, n, k)
        finally:
            owner.serve(-1)
        self.close_connection = True

    def _complete(self, owner: SlotServer, body: dict[str, Any], n: int, k: int) -> None:
        if not body.get("stream"):
            time.sleep(owner.token_s * n)
            tokens = [_token(i, k) for i in range(n)]
            content = "".join(t["token"] for t in tokens)
            self._json({"content": content, "completion_probabilities": tokens, "stop": True, "stop_type": "limit"})
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Connection", "close")
        self.end_headers()
        for i in range(n):
            time.sleep(owner.token_s)
            token = _token(i, k)
            chunk = {"content": token["token"], "completion_probabilities": [token], "stop": False}
            if i == n - 1:
                chunk.update(stop=True, stop_type="limit")
            self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
            self.wfile.flush()


def main() -> None:
    """`python -m tests.support.slot_server SLOTS TOKEN_MS`: serve in a process of its own, as a real server does
    (bench/experiment_remote.py: in the client's process it would take turns with the client for Python's GIL).
    Prints its URL, then serves until its standard input closes."""
    import sys

    slots, token_ms = int(sys.argv[1]), float(sys.argv[2])
    with SlotServer(slots=slots, token_s=token_ms / 1000) as server:
        print(server.url, flush=True)
        sys.stdin.read()


if __name__ == "__main__":
    main()
