# One turn at a time per conversation across app instances (issue 18): two engines on one database are two
# instances, as two `simulacra ask` processes or two app servers are. A turn held by one refuses the other's,
# in the CLI's way (`send`) and in the page's (a job of the turn manager), before anything is saved.

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from functools import partial

import pytest
from sqlmodel import Session

from simulator.registry import Registry
from simulator.values import SamplingSettings
from storage import turn_leases
from storage.db import make_engine
from tests.support.backends import db_url, parametrize_backends  # noqa: F401 - a fixture
from ui.service.conversations.jobs import TurnManager
from ui.service.conversations.service import Conversations, LaneSpec
from ui.service.conversations.turn_lease import TurnBusy
from ui.service.conversations.turns import Plan


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    parametrize_backends(metafunc)


LANE = LaneSpec(model="base", mask="assistant", settings=SamplingSettings(temperature=0.0, max_tokens=4, seed=1))


@pytest.fixture
def apps(db_url: str, registry: Registry) -> Iterator[tuple[Conversations, Conversations]]:  # noqa: F811
    """Two app instances on one database, each with its own engine."""
    first, second = make_engine(db_url), make_engine(db_url)
    yield Conversations(first, registry, lease_s=1.5), Conversations(second, registry, lease_s=1.5)
    first.dispose()
    second.dispose()


def _captions(plan: Plan) -> list[str]:
    return [job.lane.label for job in plan.jobs]


def busy(cid: int) -> str:
    return f"conversation {cid} has a turn running; wait or use --wait"


def test_a_turn_in_one_instance_refuses_a_turn_in_another_and_nothing_is_saved(
    apps: tuple[Conversations, Conversations],
) -> None:
    first, second = apps
    cid = first.create([LANE])
    with first.hold(cid):
        assert second.turn_running(cid)
        with pytest.raises(TurnBusy, match=f"^{busy(cid)}$"):
            list(second.send(cid, "second"))
        # The page's way: a job of the turn manager ends with the same one line.
        plan = partial(second.plan_send, cid, "from the page")
        job = TurnManager().run_plan("send", cid, plan, second.run, _captions, hold=partial(second.hold, cid))
        assert job.done and job.error == busy(cid)
        assert second.path(cid) == []
    assert not second.turn_running(cid)


def test_wait_queues_behind_the_running_turn(apps: tuple[Conversations, Conversations]) -> None:
    first, second = apps
    cid = first.create([LANE])
    waited: list[str] = []
    times: dict[str, float] = {}

    def queued() -> None:
        with second.hold(cid, wait=True, on_wait=lambda: waited.append("waiting")):
            times["second took it"] = time.monotonic()

    with first.hold(cid):
        thread = threading.Thread(target=queued)
        thread.start()
        time.sleep(1.0)
        assert "second took it" not in times
        times["first released"] = time.monotonic()
    thread.join(timeout=10)
    assert waited == ["waiting"]
    assert times["second took it"] >= times["first released"]


def test_a_long_turn_stays_held_and_a_killed_holders_lease_lapses(
    apps: tuple[Conversations, Conversations],
) -> None:
    first, second = apps
    cid = first.create([LANE])
    with first.hold(cid):
        time.sleep(2.5)  # longer than the 1.5 s lease: the heartbeat renewed it
        with pytest.raises(TurnBusy):
            list(second.send(cid, "too soon"))
    # A holder killed with kill -9 never renews nor releases its lease: it lapses on its own.
    with Session(first.engine) as session:
        assert turn_leases.take_turn_lease(session=session, conversation_id=cid, holder="killed", seconds=1.0)
    with pytest.raises(TurnBusy):
        list(second.send(cid, "still too soon"))
    time.sleep(1.1)
    with second.hold(cid):
        assert first.turn_running(cid)
    assert second.path(cid) == []


def test_in_one_instance_a_regenerate_joins_running_jobs_but_a_new_turn_does_not(
    apps: tuple[Conversations, Conversations], registry: Registry
) -> None:
    first, second = apps
    same_instance = Conversations(first.engine, registry)
    cid = first.create([LANE])
    with first.hold(cid, exclusive=False), same_instance.hold(cid, exclusive=False):
        with pytest.raises(TurnBusy), same_instance.hold(cid):
            pass
        with pytest.raises(TurnBusy), second.hold(cid, exclusive=False):
            pass
    with second.hold(cid):
        pass
