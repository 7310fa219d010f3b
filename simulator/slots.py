"""A run's share of a server's slots, held only while a reply streams.

A run's sample does more than stream: its reply is written to the database before the request goes out, then
finished, scored and linked to the run after the stream ends. A run that held a server slot for all of that left
the server idle meanwhile: against a stand-in server with 8 slots, 20 ms before each request and 34 ms after it
beside a 370 ms stream (bench/experiment_remote.py). So a run draws with more threads than the server has slots,
and each sample's lane takes a slot only for its request (simulator.turn)."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

_POLL_S = 0.1  # how often a wait for a slot looks at its stop switches


class ServerSlots:
    """At most `n` requests of one run streaming from one server at a time."""

    def __init__(self, n: int) -> None:
        self.n = n
        self._free = threading.BoundedSemaphore(n)

    @contextmanager
    def held(self, stops: Iterable[threading.Event]) -> Iterator[bool]:
        """Yields True once a slot is held (given back on leaving), or False at once if any of `stops` is set
        first: a stopped run's samples waiting for a slot then never send their request."""
        stops = tuple(stops)
        while True:
            if any(stop.is_set() for stop in stops):
                yield False
                return
            if self._free.acquire(timeout=_POLL_S):
                break
        try:
            yield True
        finally:
            self._free.release()
