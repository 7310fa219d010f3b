# A conversation's turn lease: one holder at a time, decided by the database even when many ask at once, and
# anyone's once it lapses (a killed holder never renews it).

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from storage import repo
from storage import turn_leases as leases


def _conversation(engine: Engine) -> int:
    with Session(engine) as session:
        conversation_id = repo.create_conversation(session=session).id
    assert conversation_id is not None
    return conversation_id


def _take(engine: Engine, conversation_id: int, holder: str, seconds: float = 30) -> bool:
    with Session(engine) as session:
        return leases.take_turn_lease(session=session, conversation_id=conversation_id, holder=holder, seconds=seconds)


def test_a_held_lease_refuses_a_second_holder_until_released(engine: Engine) -> None:
    cid = _conversation(engine)
    assert _take(engine, cid, "first")
    assert not _take(engine, cid, "second")
    with Session(engine) as session:
        lease = leases.lease_of(session=session, conversation_id=cid)
        assert lease is not None and lease.holder == "first"
        leases.release_turn_lease(session=session, conversation_id=cid, holder="second")  # not theirs: stays
        assert leases.lease_of(session=session, conversation_id=cid) is not None
        leases.release_turn_lease(session=session, conversation_id=cid, holder="first")
        assert leases.lease_of(session=session, conversation_id=cid) is None
    assert _take(engine, cid, "second")


def test_a_lapsed_lease_is_anyones_and_its_old_holder_cannot_renew_it(engine: Engine) -> None:
    cid = _conversation(engine)
    assert _take(engine, cid, "killed", seconds=0.5)
    assert not _take(engine, cid, "next")
    time.sleep(0.6)
    with Session(engine) as session:
        assert leases.lease_of(session=session, conversation_id=cid) is None
    assert _take(engine, cid, "next")
    with Session(engine) as session:
        assert not leases.renew_turn_lease(session=session, conversation_id=cid, holder="killed", seconds=30)
        assert leases.renew_turn_lease(session=session, conversation_id=cid, holder="next", seconds=30)


def test_many_at_once_exactly_one_takes_it(engine: Engine) -> None:
    cid = _conversation(engine)
    start = threading.Barrier(6)
    taken: list[str] = []

    def contend(holder: str) -> None:
        start.wait()
        if _take(engine, cid, holder):
            taken.append(holder)

    threads = [threading.Thread(target=contend, args=(f"holder {n}",)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(taken) == 1


def test_no_lease_on_a_missing_conversation(engine: Engine) -> None:
    with pytest.raises(repo.NotFound):
        _take(engine, 999, "anyone")
