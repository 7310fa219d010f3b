"""One thread runs all local inference, interleaving the lanes' generators one token at a time.

With two cores, two llama.cpp decodes at once would each get half the CPU and fight over caches; one
decode at a time with every thread keeps each step fast, and round-robin makes all local lanes stream
together. Remote lanes do not come through here: they wait on the network concurrently.
"""

from __future__ import annotations

import queue
import threading
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Generic, TypeVar

T = TypeVar("T")

_DONE = object()


@dataclass
class _Job(Generic[T]):
    start: Callable[[], Iterator[T]]
    output: queue.Queue[object] = field(default_factory=queue.Queue)
    cancel: threading.Event = field(default_factory=threading.Event)
    iterator: Iterator[T] | None = None
    stop_requested: threading.Event | None = None  # the caller's own cancel switch, if any

    def cancelled(self) -> bool:
        return self.cancel.is_set() or (self.stop_requested is not None and self.stop_requested.is_set())


class LocalWorker:
    """Round-robin scheduler for local generators; `submit` returns an iterator the caller consumes."""

    def __init__(self) -> None:
        self._incoming: queue.Queue[_Job[object]] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="simulacra-local-inference", daemon=True)
        self._thread.start()

    def submit(self, start: Callable[[], Iterator[T]], cancel: threading.Event | None = None) -> Iterator[T]:
        """Run `start()` and its items on the worker; items arrive in the returned iterator.

        Exceptions raised by the job are re-raised from the iterator. Setting `cancel` (or closing the
        iterator) stops the job before its next step.
        """
        job: _Job[T] = _Job(start=start, stop_requested=cancel)
        self._incoming.put(job)  # type: ignore[arg-type]
        return self._drain(job)

    @staticmethod
    def _drain(job: _Job[T]) -> Iterator[T]:
        try:
            while True:
                item = job.output.get()
                if item is _DONE:
                    return
                if isinstance(item, BaseException):
                    raise item
                yield item  # type: ignore[misc]
        finally:
            job.cancel.set()

    def _run(self) -> None:
        active: deque[_Job[object]] = deque()
        while True:
            # Block only when idle; otherwise pick up new jobs between steps of the running ones.
            try:
                active.append(self._incoming.get(block=not active))
                continue
            except queue.Empty:
                pass
            job = active.popleft()
            if self._step(job):
                active.append(job)

    @staticmethod
    def _step(job: _Job[object]) -> bool:
        """Advance one job by one item; False when it has finished."""
        try:
            if job.cancelled():
                if job.iterator is not None and hasattr(job.iterator, "close"):
                    job.iterator.close()
                job.output.put(_DONE)
                return False
            if job.iterator is None:
                job.iterator = job.start()
            job.output.put(next(job.iterator))
            return True
        except StopIteration:
            job.output.put(_DONE)
            return False
        except Exception as e:  # noqa: BLE001 - handed to the consumer, who reports it in its lane
            job.output.put(e)
            return False


_shared: LocalWorker | None = None
_shared_lock = threading.Lock()


def shared_worker() -> LocalWorker:
    """The process-wide local worker (one per process, so local lanes never oversubscribe the CPU)."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = LocalWorker()
        return _shared
