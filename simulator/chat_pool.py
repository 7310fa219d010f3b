"""How many copies of each in-process chat model are loaded: at most MAX_LIVE at once, KEEP_IDLE once idle.

Why a bound: a llama-cpp-python `Llama` is a whole model load (its weights mapped again and a KV cache of its own:
about 160 MB for the bundled SmolLM2), and a request needs a copy to itself while it streams. Unbounded, every
request that overlapped another loaded a copy that was then kept for good: an experiment drawing four samples of
a chat lane at once left four loaded, and the app held 1.9 GB against its 1.5 GB budget (bench/memory.py). A
request that finds every copy busy waits its turn on the local worker, which decodes one token at a time for
everyone anyway, so the wait costs no throughput, only a later first token for the requests past MAX_LIVE.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")

MAX_LIVE = 2  # copies of one model at once: two chat lanes still stream side by side
KEEP_IDLE = 1  # copies kept loaded between requests, so the next one does not wait for a load


class ChatPool(Generic[T]):
    """Loaded copies of each model by name, lent to one request at a time."""

    def __init__(
        self,
        load: Callable[[str], T],
        close: Callable[[T], None],
        *,
        max_live: int = MAX_LIVE,
        keep_idle: int = KEEP_IDLE,
    ) -> None:
        self._load = load
        self._close = close
        self.max_live = max_live
        self.keep_idle = keep_idle
        self._idle: dict[str, list[T]] = {}
        self._lent: dict[str, int] = {}  # copies out on loan, or being loaded for a request
        self._lock = threading.Lock()

    def borrow(self, name: str) -> T | None:
        """An idle copy of `name`, or a new one; None while `max_live` copies are lent (ask again later: never
        block, since the copies come back on the very thread that asks).

        Raises:
            whatever `load` raises; nothing is counted as lent then.
        """
        with self._lock:
            idle = self._idle.setdefault(name, [])
            if not idle and self._lent.get(name, 0) >= self.max_live:
                return None
            self._lent[name] = self._lent.get(name, 0) + 1
            if idle:
                return idle.pop()
        try:
            return self._load(name)
        except BaseException:
            with self._lock:
                self._lent[name] -= 1
            raise

    def give_back(self, name: str, copy: T) -> None:
        """Return a lent copy: kept for the next request, or closed when `keep_idle` copies are kept already."""
        with self._lock:
            self._lent[name] -= 1
            idle = self._idle.setdefault(name, [])
            if len(idle) < self.keep_idle:
                idle.append(copy)
                return
        self._close(copy)

    def close(self) -> None:
        """Close every idle copy (lent ones are closed when they come back, past `keep_idle`)."""
        with self._lock:
            idle = [copy for copies in self._idle.values() for copy in copies]
            self._idle.clear()
            self.keep_idle = 0
        for copy in idle:
            self._close(copy)
