"""A worker (issue 22): runs are queued in the database, and workers claim their work, draw it and give back what
they did not finish. On PostgreSQL any number share a run: `simulacra experiment worker` processes, the app (its
process runs one while it has runs to draw: ui/service/experiments/jobs.py) and `simulacra experiment run` for
its own run. A worker leases cells (lane x prompt), or a run with stages whole; a heartbeat renews its leases and
reads Stop. A worker killed outright loses its leases within LEASE_S, and whoever claims its cells next deletes the
replies it left unlinked before drawing (as resume always did), so no sample is drawn twice."""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from itertools import groupby
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session

from personas.suites import Suite
from simulator.errors import LaneSpecError
from simulator.registry import Registry
from simulator.steering import SteeringRefused
from storage import experiments as store
from storage import run_leases as leases
from ui.service.errors import DATABASE_ERRORS, USER_ERRORS
from ui.service.experiments.cells import CellRunner, Groups
from ui.service.experiments.direction_fit import FitError
from ui.service.experiments.directions import Cancelled
from ui.service.experiments.plan import samples_per_cell
from ui.service.experiments.scheduler import CellFinished
from ui.service.experiments.stages import RunStages
from ui.service.experiments.steered import steer_cells
from ui.service.vectors.service import Vectors

log = logging.getLogger(__name__)

LEASE_S = 20.0  # a killed worker's cells are claimable again after this (issue 22 asks for within 60 s)
RENEW_S = 5.0  # leases are renewed this often: three missed renewals before one expires
WATCH_S = 0.5  # Stop pressed anywhere is seen this soon
POLL_S = 1.0  # an idle worker looks for work this often
# Cells claimed at once, drawn together (CellRunner.run_cells): enough to keep a server's slots busy across cells,
# few enough that other workers get their share. Where one worker has the run to itself it claims every cell.
CLAIM = 8
ALONE = 64  # cells claimed at once by a worker that has the database to itself (SQLite)
# What ends a cell's or a run's drawing with a reason in one line (the run fails with it; Resume retries).
DRAW_ERRORS: tuple[type[Exception], ...] = (FitError, LaneSpecError, SteeringRefused, *USER_ERRORS)


def worker_name(tag: str = "") -> str:
    """`host:pid`, and `/tag` for a second worker in one process: what a run's shares are listed under."""
    return f"{socket.gethostname()}:{os.getpid()}" + (f"/{tag}" if tag else "")


class Worker:
    """Claims and draws until `shutdown` is set (or it runs out of work, if told to). `work` is a generator:
    it yields after each sample it draws and each time it looks for work, so a caller can show progress."""

    def __init__(
        self,
        engine: Engine,
        registry: Registry,
        masks_dir: Path | None = None,
        *,
        name: str | None = None,
        claim: int = CLAIM,
    ) -> None:
        self.engine = engine
        self.registry = registry
        self.masks_dir = masks_dir
        self.name = name or worker_name()
        self.claim = claim
        self.shutdown = threading.Event()  # finish nothing more: give back what is held, then return
        self.wake = threading.Event()  # there is new work: look now rather than at the next poll
        self.drawn = 0
        self._waiting = False  # runs are unfinished, though none had work to claim: others hold it
        self._held: dict[int, threading.Event] = {}  # run id -> the switch that stops drawing it
        self._lock = threading.Lock()

    def stop_run(self, run_id: int) -> None:
        """Stop drawing a run now (Stop pressed in this process; the heartbeat would see it within WATCH_S)."""
        with self._lock:
            if (cancel := self._held.get(run_id)) is not None:
                cancel.set()

    def work(
        self, *, run_id: int | None = None, idle_exit: float | None = None, may_exit: Callable[[], bool] | None = None
    ) -> Iterator[None]:
        """Draw what can be claimed (of run `run_id` only, when given, returning once it has ended), until
        `shutdown`, or until no run was queued or running for `idle_exit` seconds and `may_exit()` agrees (a run
        others draw is waited for: their worker may die and leave it). Whatever is held when it returns (or is
        closed) is given back."""
        idle_since = time.monotonic()
        with self._heartbeat():
            while not self.shutdown.is_set():
                found = False
                for _ in self._step(run_id):
                    found = True
                    yield
                if found or self._waiting:  # a run others hold may come back (its worker killed)
                    idle_since = time.monotonic()
                if found:
                    continue
                if run_id is not None and self._ended(run_id):
                    return
                if idle_exit is not None and time.monotonic() - idle_since >= idle_exit:
                    if may_exit is None or may_exit():
                        return
                yield
                self.wake.wait(POLL_S)
                self.wake.clear()

    def _step(self, run_id: int | None) -> Iterator[None]:
        """Claim some cells and draw them, else a run to draw whole; else settle runs whose workers are gone."""
        with Session(self.engine) as session:
            cells = leases.claim_cells(
                session=session, owner=self.name, limit=self.claim, seconds=LEASE_S, run_id=run_id
            )
        if cells:
            for held_run, group in groupby(cells, key=lambda c: c.run_id):
                with self._holding(held_run) as cancel:
                    yield from self._draw(held_run, list(group), cancel, self.name)
                self._settle(held_run)
            yield  # it found work, even if every cell claimed had all its samples
            return
        with Session(self.engine) as session:
            run = leases.claim_run(session=session, owner=self.name, seconds=LEASE_S, run_id=run_id)
        if run is not None and run.id is not None:
            with self._holding(run.id) as cancel:
                yield from self._whole(run.id, cancel)
            yield
            return
        with Session(self.engine) as session:
            unfinished = [run_id] if run_id is not None else leases.unfinished_runs(session=session)
            ended = [leases.settle_run(session=session, run_id=i) for i in unfinished]
        self._waiting = any(status is None for status in ended)

    def _draw(self, run_id: int, cells: list[store.RunCell], cancel: threading.Event, owner: str | None) -> Any:
        """Draw what `cells` lack, all at once (yielding after each sample), marking each drawn, failed or given
        back as it ends. Returns the errors (a generator's return value)."""
        suite, run = self._load(run_id)
        runner = CellRunner(
            self.engine,
            self.registry,
            suite,
            cancel,
            judges=bool(run.settings.get("judges")),
            masks_dir=self.masks_dir,
            groups=Groups.of(run.settings),
            worker=self.name,
        )
        errors: dict[int, str] = {}
        by_id = {c.id: c for c in cells if c.id is not None}
        try:
            if owner is not None:  # a run drawn whole steers its lanes stage by stage (ui.service.experiments.stages)
                steer_cells(self.engine, Vectors(self.engine, self.registry), cells)
            with Session(self.engine) as session:
                have = store.sample_keys(session=session, cell_ids=list(by_id))
            for outcome in runner.run_cells(cells, have):
                if isinstance(outcome, CellFinished):
                    self._close(suite, by_id.pop(outcome.cell_id), errors, cancel, owner)
                elif outcome.error is not None:
                    errors.setdefault(outcome.cell_id, outcome.error)
                else:
                    self.drawn += 1
                    yield
        except DRAW_ERRORS as e:
            errors.update({i: str(e) for i in by_id if i not in errors})
        except Exception as e:  # one run's fault must not end a worker that serves every run
            log.exception("drawing run %s failed", run_id)
            errors.update({i: f"{type(e).__name__}: {e}" for i in by_id if i not in errors})
        for cell in by_id.values():  # not ended: stopped, or the drawing failed
            self._close(suite, cell, errors, cancel, owner)
        return list(errors.values())

    def _close(
        self, suite: Suite, cell: store.RunCell, errors: dict[int, str], cancel: threading.Event, owner: str | None
    ) -> None:
        """A cell whose drawing ended: drawn, failed (with its first error), or given back unfinished if stopped."""
        assert cell.id is not None
        with Session(self.engine) as session:
            missing = samples_per_cell(suite) - leases.samples_of(session=session, cell_id=cell.id)
            if missing <= 0 or cell.id in errors:
                leases.finish_cell(session=session, cell_id=cell.id, owner=owner, error=errors.get(cell.id))
            elif cancel.is_set():
                if owner is not None:
                    leases.release(session=session, owner=owner, cell_ids=[cell.id])
            else:
                error = f"cell {cell.position + 1}: {missing} samples were not drawn"
                leases.finish_cell(session=session, cell_id=cell.id, owner=owner, error=error)

    def _whole(self, run_id: int, cancel: threading.Event) -> Iterator[None]:
        """A run with stages, drawn in their order (see RunStages), then ended: stopped, failed or complete; or,
        if this worker is shutting down (or lost its lease), given back for another to go on with."""
        suite, _ = self._load(run_id)
        stages = RunStages(self.engine, self.registry, suite, run_id, cancel)
        with Session(self.engine) as session:
            cells = store.list_cells(session=session, run_id=run_id)
        errors: list[str] = []
        try:
            first, later = stages.split(cells)
            stages.steer(first)
            errors += yield from self._draw(run_id, first, cancel, None)
            if not cancel.is_set() and not errors:
                stages.fit(later)
                errors += yield from self._draw(run_id, later, cancel, None)
            if not cancel.is_set() and not errors:
                stages.project()
        except Cancelled:
            pass
        except DRAW_ERRORS as e:  # the run's replies are kept: it fails with the reason, in one line
            errors.append(str(e))
        except Exception as e:
            log.exception("drawing run %s failed", run_id)
            errors.append(f"{type(e).__name__}: {e}")
        with Session(self.engine) as session:
            stopped = store.get_run(session=session, run_id=run_id).stop_requested
            if not cancel.is_set() or stopped:
                status = "stopped" if cancel.is_set() else "failed" if errors else "complete"
                store.set_run_status(session=session, run_id=run_id, status=status, error=errors[0] if errors else None)
            leases.release(session=session, owner=self.name, run_id=run_id)

    def _settle(self, run_id: int) -> None:
        with Session(self.engine) as session:
            leases.settle_run(session=session, run_id=run_id)

    def _ended(self, run_id: int) -> bool:
        with Session(self.engine) as session:
            return store.get_run(session=session, run_id=run_id).status not in store.UNFINISHED

    def _load(self, run_id: int) -> tuple[Suite, store.Run]:
        with Session(self.engine) as session:
            run = store.get_run(session=session, run_id=run_id)
            experiment = store.get_experiment(session=session, experiment_id=run.experiment_id)
        return Suite.model_validate(experiment.suite), run

    @contextmanager
    def _holding(self, run_id: int) -> Iterator[threading.Event]:
        cancel = threading.Event()
        if self.shutdown.is_set():
            cancel.set()
        with self._lock:
            self._held[run_id] = cancel
        try:
            yield cancel
        finally:
            with self._lock:
                self._held.pop(run_id, None)

    @contextmanager
    def _heartbeat(self) -> Iterator[None]:
        done = threading.Event()
        beat = threading.Thread(target=self._beat, args=(done,), name=f"simulacra-heartbeat {self.name}", daemon=True)
        beat.start()
        try:
            yield
        finally:
            done.set()
            beat.join()
            with Session(self.engine) as session:  # whatever is still held, given back for others at once
                leases.release_all(session=session, owner=self.name)

    def _beat(self, done: threading.Event) -> None:
        """Renew this worker's leases every RENEW_S; stop drawing a run when Stop is pressed on it, when this
        worker is shutting down, or when its leases were lost (it stalled past LEASE_S and another took them)."""
        renewed = time.monotonic()
        while not done.wait(WATCH_S):
            with self._lock:
                held = dict(self._held)
            try:
                with Session(self.engine) as session:
                    stop = leases.held_stops(session=session, run_ids=list(held))
                    if held and time.monotonic() - renewed >= RENEW_S:
                        renewed = time.monotonic()
                        if not leases.renew(session=session, owner=self.name, seconds=LEASE_S):
                            stop = set(held)
            except DATABASE_ERRORS as e:  # the next beat tries again; the leases last LEASE_S meanwhile
                log.warning("worker %s could not renew its leases: %s", self.name, e)
                continue
            for run_id, cancel in held.items():
                if run_id in stop or self.shutdown.is_set():
                    cancel.set()
