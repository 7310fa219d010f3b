"""Turns as server-side jobs: a turn (a broadcast, a regenerate, samples, a branch, a replay, a "Try it") runs
on a thread of the server process, owned by one process-wide manager, not by the browser session that started
it. A page starts it, then draws its replies as they stand and follows them; a rerun, another page, a reload
or a second tab re-attaches to the same job. Only Stop cancels one."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field, replace
from typing import Any

from simulator.events import Reply
from ui.service.background import BackgroundJobs
from ui.service.conversations.turns import Plan, TurnUpdate

KEEP_FINISHED = 64  # finished jobs kept for sessions that come back for their outcome
PLAN_WAIT_S = 30.0  # how long `start` waits for a job's plan (its user message saved, its lanes known)


@dataclass(frozen=True)
class Slot:
    """One reply a job produces: in which lane, answering which user message, under what caption."""

    lane_id: int | None
    user_id: int | None
    caption: str


@dataclass
class TurnJob:
    """A running or finished job. Workers write it under its lock; readers take `snapshot`s."""

    id: int
    kind: str
    conversation_id: int | None = None
    scope: str | None = None  # what else it belongs to, e.g. the mask a "Try it" tries
    meta: dict[str, Any] = field(default_factory=dict)  # what the page that started it wants back
    slots: list[Slot] = field(default_factory=list)
    replies: list[Reply] = field(default_factory=list)
    message_ids: list[int | None] = field(default_factory=list)
    user_id: int | None = None
    error: str | None = None  # the job could not run at all (the lanes' own errors are in their replies)
    done: bool = False
    finished_at: float | None = None
    cancel: threading.Event = field(default_factory=threading.Event)
    version: int = 0
    _changed: threading.Condition = field(default_factory=threading.Condition, repr=False)
    _planned: threading.Event = field(default_factory=threading.Event, repr=False)

    def snapshot(self) -> TurnJob:
        """A copy whose replies no worker touches, so a page draws a consistent state."""
        with self._changed:
            replies = [_copy(r) for r in self.replies]
            return replace(self, replies=replies, message_ids=list(self.message_ids), meta=dict(self.meta))

    def wait(self, seen: int, timeout: float) -> int:
        """Block until the job changes after version `seen` (or the timeout); returns the version now."""
        with self._changed:
            self._changed.wait_for(lambda: self.version != seen or self.done, timeout)
            return self.version

    def stop(self) -> None:
        self.cancel.set()

    # -- written by the worker -------------------------------------------------------------------------

    def _plan(self, slots: list[Slot], user_id: int | None) -> None:
        with self._changed:
            self.slots = slots
            self.replies = [Reply() for _ in slots]
            self.message_ids = [None] * len(slots)
            self.user_id = user_id
            self._bump()
        self._planned.set()

    def _update(self, position: int, reply: Reply, message_id: int | None = None) -> None:
        with self._changed:
            self.replies[position] = _copy(reply)
            if message_id is not None:
                self.message_ids[position] = message_id
            self._bump()

    def _finish(self, error: str | None = None) -> None:
        with self._changed:
            self.error = error
            self.done = True
            self.finished_at = time.monotonic()
            self._bump()
        self._planned.set()

    def _bump(self) -> None:
        self.version += 1
        self._changed.notify_all()


def _copy(reply: Reply) -> Reply:
    return replace(reply, tokens=list(reply.tokens), notices=list(reply.notices))


class TurnManager:
    """Every job of this process, by id; finished ones are kept a while so a page can still read them."""

    def __init__(self) -> None:
        self._jobs = BackgroundJobs[TurnJob](keep_finished=KEEP_FINISHED, thread_name="simulacra-job", noun="turn job")
        self._ids = itertools.count(1)

    def run_plan(
        self,
        kind: str,
        conversation_id: int,
        plan: Callable[[], Plan],
        run: Callable[[Plan, threading.Event], Iterator[TurnUpdate]],
        captions: Callable[[Plan], list[str]],
        meta: dict[str, Any] | None = None,
        hold: Callable[[], AbstractContextManager[None]] | None = None,
    ) -> TurnJob:
        """Start a saved turn: `plan()` saves what must be saved first (the user's message), `run` streams it.
        `hold()` is the conversation's turn lease, held from before the plan until the run ends; when it is
        refused (TurnBusy), the job ends with that error and nothing is saved.

        Returns once the plan is made (or failed), so a rerun then finds the new rows and the job's slots.
        """

        def work(job: TurnJob) -> None:
            with hold() if hold is not None else nullcontext():
                planned = plan()
                labels = captions(planned)
                slots = [Slot(j.lane.id, j.parent_id, c) for j, c in zip(planned.jobs, labels, strict=True)]
                job._plan(slots, planned.user_id)
                for update in run(planned, job.cancel):
                    job._update(update.position, update.reply, update.message_id)

        return self._start(TurnJob(next(self._ids), kind, conversation_id, meta=dict(meta or {})), work)

    def run_replies(
        self,
        kind: str,
        scope: str,
        replies: Callable[[threading.Event], Iterator[Reply]],
        caption: str,
        meta: dict[str, Any] | None = None,
    ) -> TurnJob:
        """Start an unsaved one-reply job (a "Try it"): `replies` yields the reply after each event."""

        def work(job: TurnJob) -> None:
            job._plan([Slot(None, None, caption)], None)
            for reply in replies(job.cancel):
                job._update(0, reply)

        return self._start(TurnJob(next(self._ids), kind, scope=scope, meta=dict(meta or {})), work)

    def _start(self, job: TurnJob, work: Callable[[TurnJob], None]) -> TurnJob:
        self._jobs.start(job.id, job, lambda: work(job), job._finish)
        job._planned.wait(PLAN_WAIT_S)
        return job

    def get(self, job_id: int) -> TurnJob | None:
        return self._jobs.get(job_id)

    def running(self, conversation_id: int) -> list[TurnJob]:
        """The jobs still running in a conversation, oldest first."""
        return [j for j in self._jobs.jobs() if j.conversation_id == conversation_id and not j.done]

    def latest(self, kind: str, scope: str) -> TurnJob | None:
        """The newest job of this kind and scope, running or finished."""
        found = [j for j in self._jobs.jobs() if j.kind == kind and j.scope == scope]
        return found[-1] if found else None

    def stop(self, conversation_id: int) -> int:
        """Stop every running job of a conversation; returns how many."""
        jobs = self.running(conversation_id)
        for job in jobs:
            job.stop()
        return len(jobs)


_manager = TurnManager()


def turn_manager() -> TurnManager:
    """The process's one manager: every session of the web app shares it."""
    return _manager
