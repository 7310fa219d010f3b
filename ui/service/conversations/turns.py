"""Running replies that save themselves as they stream: each is saved as `incomplete` when its lane starts,
written at least every FLUSH_EVERY_S seconds, and finalised when the lane ends. A turn whose replies can no
longer be written (a full disk) stops, and marks the ones it left unfinished as failed, with the reason."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session

from personas.mask import HistoryTurn
from simulator.events import LaneEvent, Reply
from simulator.registry import Registry
from simulator.steering import vector_sha256
from simulator.turn import LaneConfig, run_turn
from simulator.values import Contrast, Steering
from storage import repo
from storage.tables import Lane
from ui.service.errors import DATABASE_ERRORS, ServiceError, database_problem

log = logging.getLogger(__name__)

FLUSH_EVERY_S = 0.5  # a streaming reply is written at least this often, so a crash loses under a second


@dataclass
class TurnUpdate:
    """What a front end redraws after each event: the job's position, the event, and the reply so far."""

    position: int
    event: LaneEvent
    reply: Reply
    message_id: int | None
    lane_id: int | None = None
    user_id: int | None = None  # the user message the reply answers


@dataclass(frozen=True)
class Job:
    """One reply to produce: which lane, with what config and history, under which user message."""

    lane: Lane
    config: LaneConfig
    history: list[HistoryTurn]
    parent_id: int
    diverged_from_id: int | None = None
    diverged_at: int | None = None


@dataclass(frozen=True)
class Plan:
    """A turn ready to run: its replies to produce, and the user message they answer (for a broadcast, the
    message just saved)."""

    conversation_id: int
    jobs: list[Job]
    user_id: int | None = None


class _Saver:
    """Writes one job's reply to the database as its events arrive."""

    def __init__(self, session: Session, conversation_id: int, job: Job) -> None:
        self.session = session
        self.conversation_id = conversation_id
        self.job = job
        self.message_id: int | None = None
        self.finished = False
        self.last_flush: float | None = None  # from the first token: a run's reply may wait for a server slot first

    def start(self, prompt: Any, contrast_prompt: str | None = None) -> None:
        message = repo.start_reply(
            session=self.session,
            conversation_id=self.conversation_id,
            lane_id=self.job.lane.id or 0,
            parent_id=self.job.parent_id,
            prompt=prompt if prompt is not None else "",
            diverged_from_id=self.job.diverged_from_id,
            diverged_at=self.job.diverged_at,
            settings=self.job.config.settings,
            contrast=self._contrast(contrast_prompt),
            steering=self._steering(),
        )
        self.message_id = message.id

    def _contrast(self, document: str | None) -> Contrast | None:
        """A contrast reply's record: its mask B, γ and B's exact document, so that a replay reads them again."""
        lane, running = self.job.lane.contrasted, self.job.config.contrast
        if lane is None or running is None:
            return None
        return Contrast(mask=lane.mask, gamma=running.gamma, document=document)

    def _steering(self) -> Steering | None:
        """A steered reply's record: the direction's name and the sha256, α and layers of the vector it ran with."""
        running, lane = self.job.config.steering, self.job.lane.steered
        if running is None:
            return None
        return Steering(
            direction=lane.direction if lane is not None else "unnamed",
            vector_sha256=vector_sha256(running.vectors),
            alpha=running.alpha,
            first_layer=running.first_layer,
            last_layer=running.last_layer,
        )

    def progress(self, reply: Reply) -> None:
        if self.last_flush is None:
            self.last_flush = time.monotonic()
        if self.message_id is None or time.monotonic() - self.last_flush < FLUSH_EVERY_S:
            return
        tokens = [t.compact() for t in reply.tokens]
        repo.update_reply(session=self.session, message_id=self.message_id, content=reply.text, tokens=tokens)
        self.last_flush = time.monotonic()

    def finish(self, reply: Reply) -> None:
        if self.message_id is None:  # failed before it started: the error is still saved, in its lane
            self.start(reply.prompt, reply.contrast_prompt)
        assert self.message_id is not None
        repo.finish_reply(
            session=self.session,
            message_id=self.message_id,
            content=reply.text,
            tokens=[t.compact() for t in reply.tokens],
            status=reply.status,
            finish_reason=reply.finish_reason,
            error=reply.error,
            ttft_ms=reply.timings.ttft_ms,
            total_ms=reply.timings.total_ms,
            tokens_per_s=reply.timings.tokens_per_s,
            seed=reply.seed,
            model_sha256=reply.model_sha256,
            metrics=None if reply.metrics is None else reply.metrics.model_dump(mode="json"),
        )
        self.finished = True

    def save(self, event: LaneEvent, reply: Reply) -> None:
        if event.kind == "start":
            self.start(event.prompt, event.contrast_prompt)
        elif event.kind == "token":
            self.progress(reply)
        elif event.kind in ("done", "error"):
            self.finish(reply)


def run_jobs(
    engine: Engine,
    registry: Registry,
    conversation_id: int,
    jobs: list[Job],
    cancel: threading.Event | None = None,
) -> Iterator[TurnUpdate]:
    """Run every job at once, saving each reply as it streams; yield an update per event. Setting `cancel`
    stops the lanes still running: each ends with what it wrote so far, saved as incomplete ("stopped")."""
    replies = [Reply(diverged_at=job.diverged_at) for job in jobs]
    cancel = cancel or threading.Event()
    with Session(engine) as session:
        savers = [_Saver(session, conversation_id, job) for job in jobs]
        events = run_turn([job.config for job in jobs], [job.history for job in jobs], registry, cancel=cancel)
        for event in events:
            i = event.lane_index
            reply, saver = replies[i], savers[i]
            reply.apply(event)
            try:
                saver.save(event, reply)
            except DATABASE_ERRORS as e:
                cancel.set()  # the other lanes stop too: their replies could not be saved either
                for _ in events:
                    pass  # until every lane has stopped, as after Stop: none is still decoding when the job ends
                raise _abandon(engine, session, savers, e) from e
            yield TurnUpdate(
                position=i,
                event=event,
                reply=reply,
                message_id=saver.message_id,
                lane_id=jobs[i].lane.id,
                user_id=jobs[i].parent_id,
            )


def _abandon(engine: Engine, session: Session, savers: list[_Saver], error: Exception) -> ServiceError:
    """Mark the replies this turn started and could not finish as failed, with why; returns the error to raise."""
    session.rollback()  # a failed read leaves the session's transaction unusable until it is rolled back
    url = engine.url  # named as everywhere else: a SQLite file by its path, a server without its password
    problem = database_problem(error, (url.database or "") if url.get_backend_name() == "sqlite" else str(url))
    unfinished = [s.message_id for s in savers if s.message_id is not None and not s.finished]
    for keep_tokens in (True, False):  # then without their tokens, whose pages make room on a full disk
        try:
            repo.abandon_replies(session=session, message_ids=unfinished, error=problem, keep_tokens=keep_tokens)
            break
        except DATABASE_ERRORS:
            log.warning("could not mark replies %s as failed (keep_tokens=%s)", unfinished, keep_tokens, exc_info=True)
    return ServiceError(f"the turn stopped, its replies could not be saved: {problem}")
