"""One turn at a time per conversation, across processes and app instances (issue 18): three `simulacra ask
--conversation 1` at once used to chain three user messages before any reply, so each model read the others'
questions. A turn holds the conversation's lease in the database (storage.turn_leases) from before its user
message is saved until its last reply is; a heartbeat renews it, so a killed holder's lease simply expires.

Inside one app instance (one engine) the turn manager's jobs share the instance's lease: a regenerate may run
beside a turn, as the page has always allowed, but a new turn (`exclusive`) waits for nothing else to run."""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from sqlalchemy.engine import Engine
from sqlmodel import Session

from storage import turn_leases as store
from ui.service.errors import DATABASE_ERRORS, ServiceError

log = logging.getLogger(__name__)

LEASE_S = 30.0  # how long a lease outlives its last heartbeat: what a killed holder locks its conversation for
POLL_S = 0.5  # how often a waiting turn (`--wait`) asks again


class TurnBusy(ServiceError):
    """Another process or app instance (or, for a new turn, another job of this one) runs a turn there."""

    def __init__(self, conversation_id: int) -> None:
        super().__init__(f"conversation {conversation_id} has a turn running; wait or use --wait")
        self.conversation_id = conversation_id


@dataclass
class _Held:
    """This instance's lease on one conversation, and how many of its jobs share it."""

    jobs: int = 0
    stop: threading.Event = field(default_factory=threading.Event)


class TurnLeases:
    """The conversation leases one app instance (one engine) holds, shared by its jobs and kept alive by one
    heartbeat thread per conversation."""

    def __init__(self, engine: Engine) -> None:
        # Weakly: the registry below is keyed by the engine, and a strong reference here would keep it alive.
        self._engine = weakref.ref(engine)
        host = socket.gethostname()[:120]
        self.holder = f"{host} pid {os.getpid()} instance {uuid.uuid4().hex[:8]}"
        self._held: dict[int, _Held] = {}
        self._lock = threading.Lock()

    @contextmanager
    def hold(
        self,
        conversation_id: int,
        *,
        exclusive: bool = True,
        wait: bool = False,
        seconds: float = LEASE_S,
        on_wait: Callable[[], None] | None = None,
    ) -> Iterator[None]:
        """Hold the conversation's lease for the block; released however the block ends.

        Raises:
            TurnBusy: it is held elsewhere (or, `exclusive`, by another job here) and `wait` is off.
            NotFound: there is no such conversation.
        """
        while not self._acquire(conversation_id, exclusive, seconds):
            if not wait:
                raise TurnBusy(conversation_id)
            if on_wait is not None:
                on_wait()
                on_wait = None  # said once
            time.sleep(POLL_S)
        try:
            yield
        finally:
            self._release(conversation_id)

    @property
    def engine(self) -> Engine:
        engine = self._engine()
        if engine is None:  # only a job outliving every service object on its engine could see this
            raise ServiceError("the database connection was closed while a turn held its conversation")
        return engine

    def running(self, conversation_id: int) -> bool:
        """Whether a turn holds the conversation's lease, here or anywhere else."""
        with Session(self.engine) as session:
            return store.lease_of(session=session, conversation_id=conversation_id) is not None

    def _acquire(self, conversation_id: int, exclusive: bool, seconds: float) -> bool:
        with self._lock:
            held = self._held.get(conversation_id)
            if held is None:
                with Session(self.engine) as session:
                    taken = store.take_turn_lease(
                        session=session, conversation_id=conversation_id, holder=self.holder, seconds=seconds
                    )
                if not taken:
                    return False
                held = self._held[conversation_id] = _Held()
                beat = threading.Thread(
                    target=self._heartbeat,
                    args=(conversation_id, held.stop, seconds),
                    name=f"simulacra-lease-{conversation_id}",
                    daemon=True,  # a process that ends mid-turn must not wait for it: the lease then expires
                )
                beat.start()
            elif exclusive:
                return False
            held.jobs += 1
            return True

    def _release(self, conversation_id: int) -> None:
        with self._lock:
            held = self._held[conversation_id]
            held.jobs -= 1
            if held.jobs:
                return
            del self._held[conversation_id]
            held.stop.set()
            try:
                with Session(self.engine) as session:
                    store.release_turn_lease(session=session, conversation_id=conversation_id, holder=self.holder)
            except DATABASE_ERRORS:
                # The turn itself is done; the lease expires on its own.
                log.warning("could not release the lease of conversation %s", conversation_id, exc_info=True)

    def _heartbeat(self, conversation_id: int, stop: threading.Event, seconds: float) -> None:
        # Three beats per lease, so one slow write (a busy SQLite file) does not let it lapse.
        while not stop.wait(seconds / 3):
            engine = self._engine()
            if engine is None:
                return
            try:
                with Session(engine) as session:
                    kept = store.renew_turn_lease(
                        session=session, conversation_id=conversation_id, holder=self.holder, seconds=seconds
                    )
            except DATABASE_ERRORS:
                log.warning("could not renew the lease of conversation %s", conversation_id, exc_info=True)
                continue
            if not kept:
                log.warning("conversation %s: the turn's lease lapsed and was taken or deleted", conversation_id)
                return


_instances: weakref.WeakKeyDictionary[Engine, TurnLeases] = weakref.WeakKeyDictionary()
_instances_lock = threading.Lock()


def turn_leases(engine: Engine) -> TurnLeases:
    """The leases of the app instance working on `engine`: every service object on one engine shares them."""
    with _instances_lock:
        leases = _instances.get(engine)
        if leases is None:
            leases = _instances[engine] = TurnLeases(engine)
        return leases
