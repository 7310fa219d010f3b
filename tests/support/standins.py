"""HeaderRecordingServer: a stand-in chat server on 127.0.0.1, for what no real server shows or does on demand.

It records every request's headers (a real server does not tell what credentials it was sent) and answers in
the wire format the path asks for: OpenAI-style SSE (`.../chat/completions`), Ollama NDJSON (`/api/generate`,
`/api/chat`) or Anthropic SSE (`.../messages`). Paths under a prefix inject a fault:

- `/fail/...` answers 503, to count retries;
- `/busy/...` answers its first REFUSALS requests 429 with `Retry-After: 1` and "slow down" in OpenAI's error
  shape, then serves, as a cloud API over its rate limit does; `/restarting/...` answers them 503 with no
  `Retry-After`, as a proxy whose upstream restarts does (no real server refuses on demand, then recovers);
- `/echo/...` answers 401 with the Authorization header it was sent in the error message, as a careless proxy does;
- `/ping/...` sends one token, then SSE keep-alive comments and never another token;
- `/no-echo/...` is a base model's OpenAI text-completion server (`.../models`, `.../completions`) that gives the
  next token's log-probabilities but never the prompt's (it ignores `echo`), as servers without prompt
  probabilities do; none is at hand to run here.
"""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

PIECES = ["Hel", "lo", " there"]
REFUSALS = 2  # how many requests `/busy/` and `/restarting/` refuse before serving
SLOW_DOWN = "slow down: 3 requests per minute on this key"


@dataclass(frozen=True)
class Seen:
    path: str
    headers: dict[str, str]  # names lower-cased

    def credentials(self) -> dict[str, str]:
        return {k: v for k, v in self.headers.items() if k in ("authorization", "x-api-key", "api-key")}


class HeaderRecordingServer:
    """Start with `with HeaderRecordingServer() as server:`; `server.url` is `http://127.0.0.1:PORT`."""

    def __init__(self) -> None:
        self.seen: list[Seen] = []
        self.closing = threading.Event()
        self.refused: dict[str, int] = {}  # by path prefix: how many requests `/busy/` and `/restarting/` refused
        self.lock = threading.Lock()
        self._http = _QuietServer(("127.0.0.1", 0), _Handler)
        self._http.recorder = self  # type: ignore[attr-defined]
        self.url = f"http://127.0.0.1:{self._http.server_address[1]}"

    def __enter__(self) -> HeaderRecordingServer:
        threading.Thread(target=self._http.serve_forever, name="header-recording-server", daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.closing.set()
        self._http.shutdown()
        self._http.server_close()

    def refuse(self, prefix: str) -> bool:
        """Whether this request under `prefix` is one of the first REFUSALS (and counts it)."""
        with self.lock:
            refused = self.refused.get(prefix, 0)
            self.refused[prefix] = min(REFUSALS, refused + 1)
            return refused < REFUSALS

    def requests_to(self, suffix: str) -> list[Seen]:
        """The recorded requests whose path ends with `suffix` (litellm also asks Ollama for /api/show)."""
        return [seen for seen in self.seen if seen.path.endswith(suffix)]


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):  # a client that gave up and hung up is expected
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's name
        pass  # the test reads what it needs from `seen`

    @property
    def recorder(self) -> HeaderRecordingServer:
        return self.server.recorder  # type: ignore[attr-defined, no-any-return]

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length") or 0))
        self.recorder.seen.append(Seen(self.path, {k.lower(): v for k, v in self.headers.items()}))
        if self.path.startswith("/fail/"):
            self._send(503, "application/json", [json.dumps({"error": {"message": "overloaded"}})])
        elif self.path.startswith("/busy/") and self.recorder.refuse("/busy/"):
            error = {"error": {"message": SLOW_DOWN, "type": "requests", "code": "rate_limit_exceeded"}}
            self._send(429, "application/json", [json.dumps(error)], {"retry-after": "1"})
        elif self.path.startswith("/restarting/") and self.recorder.refuse("/restarting/"):
            self._send(503, "application/json", [json.dumps({"error": {"message": "upstream restarting"}})])
        elif self.path.startswith("/echo/"):
            message = f"bad credentials: {self.headers.get('authorization')}"
            self._send(401, "application/json", [json.dumps({"error": {"message": message}})])
        elif self.path.startswith("/ping/"):
            self._send(200, "text/event-stream", self._pings())
        elif self.path.startswith("/no-echo/") and self.path.endswith("/completions"):
            self._send(200, "application/json", [json.dumps(_text_completion())])
        elif self.path.endswith("/chat/completions"):  # `/busy/` and `/restarting/` too, once they have refused
            self._send(200, "text/event-stream", _openai_sse())
        elif self.path.endswith("/messages"):
            self._send(200, "text/event-stream", _anthropic_sse())
        elif self.path in ("/api/generate", "/api/chat"):
            self._send(200, "application/x-ndjson", _ollama_ndjson(self.path == "/api/chat"))
        else:
            self._send(404, "application/json", ["{}"])

    def do_GET(self) -> None:
        self.recorder.seen.append(Seen(self.path, {k.lower(): v for k, v in self.headers.items()}))
        if self.path.startswith("/no-echo/") and self.path.endswith("/models"):
            self._send(200, "application/json", [json.dumps({"object": "list", "data": [{"id": "stand-in"}]})])
            return
        self._send(404, "application/json", ["{}"])

    def _pings(self) -> Iterator[str]:
        yield from list(_openai_sse())[:1]
        while not self.recorder.closing.wait(0.3):
            yield ": ping\n\n"

    def _send(self, status: int, content_type: str, parts: Any, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("content-type", content_type)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("transfer-encoding", "chunked")
        self.end_headers()
        try:
            for part in parts:
                data = part.encode()
                self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
                self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")
        except OSError:  # the client went away, as a lane that gave up does
            self.close_connection = True


def _openai_sse() -> Iterator[str]:
    def chunk(delta: dict[str, str], finish: str | None) -> str:
        body = {"id": "c", "object": "chat.completion.chunk", "created": 0, "model": "stand-in"}
        body["choices"] = [{"index": 0, "delta": delta, "finish_reason": finish}]  # type: ignore[list-item]
        return f"data: {json.dumps(body)}\n\n"

    for piece in PIECES:
        yield chunk({"role": "assistant", "content": piece}, None)
    yield chunk({}, "stop")
    yield "data: [DONE]\n\n"


def _text_completion() -> dict[str, Any]:
    """One generated token with its log-probability and top alternatives, and nothing for the prompt."""
    logprobs = {"tokens": [" Paris"], "token_logprobs": [-0.5], "top_logprobs": [{" Paris": -0.5, " Lyon": -2.0}]}
    logprobs["text_offset"] = [0]
    choice = {"index": 0, "text": " Paris", "logprobs": logprobs, "finish_reason": "length"}
    usage = {"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6}
    return {
        "id": "c",
        "object": "text_completion",
        "created": 0,
        "model": "stand-in",
        "choices": [choice],
        "usage": usage,
    }


def _anthropic_sse() -> Iterator[str]:
    message = {"id": "m", "type": "message", "role": "assistant", "model": "stand-in", "content": []}
    events: list[tuple[str, dict[str, Any]]] = [
        ("message_start", {"message": {**message, "usage": {"input_tokens": 1, "output_tokens": 0}}}),
        ("content_block_start", {"index": 0, "content_block": {"type": "text", "text": ""}}),
        *[("content_block_delta", {"index": 0, "delta": {"type": "text_delta", "text": p}}) for p in PIECES],
        ("content_block_stop", {"index": 0}),
        ("message_delta", {"delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": len(PIECES)}}),
        ("message_stop", {}),
    ]
    for name, data in events:
        yield f"event: {name}\ndata: {json.dumps({'type': name, **data})}\n\n"


def _ollama_ndjson(chat: bool) -> Iterator[str]:
    def line(text: str, done: bool) -> str:
        body: dict[str, Any] = {"model": "stand-in", "created_at": "2025-01-01T00:00:00Z", "done": done}
        body.update({"message": {"role": "assistant", "content": text}} if chat else {"response": text})
        if done:
            body.update(done_reason="stop", prompt_eval_count=1, eval_count=len(PIECES))
        return json.dumps(body) + "\n"

    for piece in PIECES:
        yield line(piece, False)
    yield line("", True)
