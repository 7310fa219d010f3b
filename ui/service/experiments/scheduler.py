"""A run's cells drawn at once, so that every queue the run uses stays full: a server's slots (its
`max_concurrency`) and the local worker, which decodes one batched group of a lane's samples at a time.

The work is cut into units, a few samples of one cell each. A queue's units are taken by as many threads as the
caller gives it (the local worker: one; a server: more than its slots, each sample holding a slot only while it
streams: simulator.slots), whatever cell or lane they come from, and each sample's outcome streams back (saved
and scored by the unit as it finishes) in whatever order the units end. A cell is finished when its last unit ends."""

from __future__ import annotations

import queue
import threading
from collections import Counter, deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass


@dataclass(frozen=True)
class Outcome:
    """One sample finished: linked (error None), or failed with the reply's error (not linked: resume retries)."""

    cell_id: int
    sample_index: int
    error: str | None = None


@dataclass(frozen=True)
class CellFinished:
    """Every unit of a cell has ended (its samples are linked, failed, or were stopped)."""

    cell_id: int


@dataclass(frozen=True)
class Unit:
    """Samples of one cell drawn together, on one queue (a server, or the local worker)."""

    cell_id: int
    queue: str
    indices: tuple[int, ...]


@dataclass(frozen=True)
class _UnitEnded:
    unit: Unit


@dataclass(frozen=True)
class _Raised:
    error: BaseException


Draw = Callable[[Unit, threading.Event], Iterator[Outcome]]


def draw_units(
    units: list[Unit], threads: dict[str, int], draw: Draw, cancel: threading.Event
) -> Iterator[Outcome | CellFinished]:
    """Run `draw` on every unit, at most `threads[queue]` units of a queue at a time, yielding each outcome as it
    comes and each cell once its units have all ended. Once `cancel` is set no unit starts; the units running
    end as their samples are stopped. An error in one unit stops the others, then is raised here; so does
    leaving the iteration early (the threads are joined before this returns)."""
    halt = threading.Event()  # set to stop every unit: an error, or the caller stopped listening
    pending: dict[str, deque[Unit]] = {}
    for unit in units:
        pending.setdefault(unit.queue, deque()).append(unit)
    left = Counter(unit.cell_id for unit in units)  # each cell's units not ended yet
    out: queue.Queue[Outcome | _UnitEnded | _Raised | None] = queue.Queue()
    taking = threading.Lock()

    def take(name: str) -> Unit | None:
        with taking:
            waiting = pending[name]
            return waiting.popleft() if waiting and not (halt.is_set() or cancel.is_set()) else None

    def work(name: str) -> None:
        try:
            while (unit := take(name)) is not None:
                for outcome in draw(unit, halt):
                    out.put(outcome)
                out.put(_UnitEnded(unit))
        except BaseException as e:  # noqa: BLE001 - handed to the caller's thread, which raises it
            halt.set()
            out.put(_Raised(e))
        finally:
            out.put(None)

    drawing = [
        threading.Thread(target=work, args=(name,), name=f"simulacra-draw-{name}", daemon=True)
        for name, waiting in pending.items()
        for _ in range(max(1, min(threads.get(name, 1), len(waiting))))
    ]
    for thread in drawing:
        thread.start()
    running, raised = len(drawing), None
    try:
        while running:
            item = out.get()
            if item is None:
                running -= 1
            elif isinstance(item, _Raised):
                raised = raised or item.error
            elif isinstance(item, _UnitEnded):
                left[item.unit.cell_id] -= 1
                if not left[item.unit.cell_id]:
                    yield CellFinished(item.unit.cell_id)
            else:
                yield item
    finally:
        halt.set()
        for thread in drawing:
            thread.join()
    if raised is not None:
        raise raised
