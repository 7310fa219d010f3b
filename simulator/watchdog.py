"""Time limits on a chat server's reply, counted in tokens rather than bytes.

Why not only httpx's timeouts (litellm hands an `httpx.Timeout` to the OpenAI client, and flattens it to one
number for most other providers): a read timeout is one number for "no first token yet" and "stalled mid-reply",
it restarts on every byte, so a server that sends SSE keep-alive comments while stuck never trips it, and it
cannot bound a lane's total time. So the stream is read in a thread and the lane waits on a queue with its own
deadlines; httpx keeps the connect limit, and a backstop read limit that ends a reading thread the lane has
given up on.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Generator, Iterable
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from simulator.errors import LaneTimeout

T = TypeVar("T")

# How often a waiting lane looks at its cancel switch.
_POLL_S = 0.25


class Timeouts(BaseModel):
    """Limits for a chat lane that talks to a server, in seconds: to connect, to the first token, between two
    tokens, and for the whole reply. Retries are off, so these are the limits a user waits at most."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    connect: float = Field(default=5.0, gt=0)
    first_token: float = Field(default=60.0, gt=0)
    stall: float = Field(default=30.0, gt=0)
    total: float = Field(default=600.0, gt=0)

    def http(self) -> Any:
        """httpx's limits: connect as configured; reading is the watchdog's job, httpx's is only a backstop."""
        import httpx

        return httpx.Timeout(max(self.first_token, self.stall) + 10.0, connect=self.connect)


def watched(
    open_stream: Callable[[], Iterable[T]],
    is_token: Callable[[T], bool],
    limits: Timeouts,
    *,
    cancel: threading.Event | None = None,
) -> Generator[T, None, None]:
    """The items of `open_stream()`, read in a thread, within `limits`; ends early, quietly, if `cancel` is set.

    `is_token` tells which items are tokens (a role-only first chunk is not one). A reader the lane stops
    waiting for reads on until httpx's backstop limit or the caller closing its connection ends it, and then
    drops what it read.

    Raises:
        LaneTimeout: no first token, a stall between tokens, or the whole reply over its limit.
        Exception: whatever opening or reading the stream raised, as it was raised.
    """
    out: queue.Queue[tuple[str, Any]] = queue.Queue()
    stop = threading.Event()
    reader = threading.Thread(target=_read, args=(open_stream, out, stop), name="simulacra-chat-reader", daemon=True)
    started = time.monotonic()
    last_token: float | None = None
    reader.start()
    try:
        while True:
            if cancel is not None and cancel.is_set():
                return
            now = time.monotonic()
            limit, waited_for = _deadline(limits, started, last_token)
            if now >= limit:
                raise LaneTimeout(waited_for)
            try:
                kind, value = out.get(timeout=min(limit - now, _POLL_S))
            except queue.Empty:
                continue
            if kind == "end":
                return
            if kind == "error":
                raise value
            if is_token(value):
                last_token = time.monotonic()
            yield value
    finally:
        stop.set()


def _deadline(limits: Timeouts, started: float, last_token: float | None) -> tuple[float, str]:
    """When the lane stops waiting, and what for."""
    total = started + limits.total
    if last_token is None:
        token = started + limits.first_token
        what = f"no first token within {limits.first_token:g} s: the server did not start answering"
    else:
        token = last_token + limits.stall
        what = f"no token for {limits.stall:g} s: the server stopped answering; the reply so far is saved"
    if total <= token:
        return total, f"the reply took longer than the lane's {limits.total:g} s limit; the reply so far is saved"
    return token, what


def _read(open_stream: Callable[[], Iterable[T]], out: queue.Queue[tuple[str, Any]], stop: threading.Event) -> None:
    try:
        for item in open_stream():
            if stop.is_set():
                return
            out.put(("item", item))
        out.put(("end", None))
    except BaseException as e:  # noqa: BLE001 - handed to the lane, which raises it in its own thread
        out.put(("error", e))
    finally:
        stop.set()
