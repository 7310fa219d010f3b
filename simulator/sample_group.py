"""Lanes of one turn that are samples of one base lane share one batched job on the local worker.

Each lane still runs in its own thread, with its own events and metrics; what the samples share is the
continuation. Every member renders its document and draws its seed as before, then joins its group; once every
member has joined (or left: a remote or chat lane, or one that failed first), one `Simulator.continue_samples` job
runs for them all, and each lane reads its own share of its items as if it ran alone. In the fast layout (`rows`
above EXACT_ROWS, `simulator.batch`) a lone lane runs as a group of one, padded, so that it gives its seed's reply
in that layout.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator

from simulator.protocol import Continuation, Finished
from simulator.values import EXACT_ROWS, Token
from simulator.worker import LocalWorker

_END = object()

Item = tuple[int, Token | Finished]  # (lane index, step)


class SampleGroup:
    """The lanes (by turn index) whose continuations are expected to run as one batched job."""

    def __init__(
        self, members: list[int], worker: LocalWorker, cancel: threading.Event, rows: int = EXACT_ROWS
    ) -> None:
        self.members = members
        self.rows = rows  # the layout: samples per decode (`simulator.batch`)
        self._worker = worker
        self._cancel = cancel
        self._settled: set[int] = set()
        self._joined: dict[int, tuple[Continuation, queue.Queue[object]]] = {}
        self._lock = threading.Lock()

    def join(self, index: int, continuation: Continuation) -> Iterator[Token | Finished]:
        """Lane `index`'s continuation; its items arrive once every member has joined or left."""
        items: queue.Queue[object] = queue.Queue()
        with self._lock:
            self._joined[index] = (continuation, items)
            ready = self._settle(index)
        if ready:
            self._start()
        return _read(items)

    def leave(self, index: int) -> None:
        """Lane `index` will not join (it runs elsewhere or failed first); does nothing once it has joined."""
        with self._lock:
            ready = index not in self._settled and self._settle(index)
        if ready:
            self._start()

    def _settle(self, index: int) -> bool:
        self._settled.add(index)
        return len(self._settled) == len(self.members) and bool(self._joined)

    def _start(self) -> None:
        batches: dict[tuple[int, str, str, str, int, str], list[int]] = {}
        for index, (continuation, _) in sorted(self._joined.items()):
            batches.setdefault(continuation.batch_key(), []).append(index)
        for indices in batches.values():
            queues = {i: self._joined[i][1] for i in indices}
            steps = self._worker.submit(self._job([self._joined[i][0] for i in indices], indices), self._cancel)
            threading.Thread(target=_dispatch, args=(steps, queues), name="simulacra-samples", daemon=True).start()

    def _job(self, continuations: list[Continuation], indices: list[int]) -> Callable[[], Iterator[Item]]:
        def alone() -> Iterator[Item]:
            return ((indices[0], step) for step in continuations[0].alone(self._cancel))

        def together() -> Iterator[Item]:
            first = continuations[0]
            samples = first.simulator.continue_samples(
                first.document,
                [c.settings for c in continuations],
                alternatives=first.alternatives,
                cancel=self._cancel,
                reply_prefix=first.reply_prefix,
                cue=first.cue,
                steering=first.steering,
                rows=self.rows,
            )
            return ((indices[i], step) for i, step in samples)

        return alone if len(continuations) == 1 and self.rows <= EXACT_ROWS else together


def _dispatch(steps: Iterator[Item], queues: dict[int, queue.Queue[object]]) -> None:
    """Hand each item to its lane; a failure goes to every lane, each of which reports it as its own error."""
    try:
        for index, step in steps:
            queues[index].put(step)
    except Exception as e:  # noqa: BLE001 - re-raised in each lane's thread
        for items in queues.values():
            items.put(e)
    finally:
        for items in queues.values():
            items.put(_END)


def _read(items: queue.Queue[object]) -> Iterator[Token | Finished]:
    while (item := items.get()) is not _END:
        if isinstance(item, BaseException):
            raise item
        yield item  # type: ignore[misc]
