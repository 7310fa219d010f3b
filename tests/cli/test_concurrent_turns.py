# Three `simulacra ask --conversation N` at once (issue 18): they used to chain three user messages before any
# reply, so a model read the others' questions as if the user had sent them all. Now one runs and the others are
# refused with one line, or, with --wait, queue and each runs in turn; every saved prompt holds one new user
# message. Real processes, a real base lane and a real SQLite file or PostgreSQL database.

from __future__ import annotations

import re
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlmodel import Session

from simulator.registry import Registry
from simulator.values import SamplingSettings
from storage import repo
from storage.db import make_engine
from storage.tables import Message
from tests.support.backends import db_url, parametrize_backends  # noqa: F401 - a fixture
from ui.service.conversations.service import Conversations, parse_lane_spec

pytestmark = pytest.mark.model

Start = Callable[..., subprocess.Popen[str]]
USER_LINE = re.compile(r"^User: (concurrent \d)$", re.MULTILINE)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    parametrize_backends(metafunc)


@pytest.fixture
def service(db_url: str, registry: Registry) -> Iterator[Conversations]:  # noqa: F811
    engine = make_engine(db_url)
    yield Conversations(engine, registry)
    engine.dispose()


def url(service: Conversations) -> str:
    """The database the commands share with the test."""
    return service.engine.url.render_as_string(hide_password=False)


def ask(cli_start: Start, home: Path, url: str, cid: int, text: str, *args: str, **env: str) -> subprocess.Popen[str]:
    return cli_start(
        home, "ask", text, "--conversation", str(cid), *args, stderr=subprocess.PIPE, SIMULACRA_DATABASE_URL=url, **env
    )


def outcome(process: subprocess.Popen[str]) -> tuple[int, str]:
    _, stderr = process.communicate(timeout=300)
    return process.returncode, stderr


def messages(service: Conversations, cid: int) -> list[Message]:
    with Session(service.engine) as session:
        return repo.list_messages(session=session, conversation_id=cid)


def saved_chain(service: Conversations, cid: int) -> list[str]:
    """The user messages, oldest first, once it is checked that each continues the one before and that the
    prompt of its reply holds exactly that chain: one new user message per prompt."""
    rows = messages(service, cid)
    users = [m for m in rows if m.role == "user"]
    replies = {m.parent_id: m for m in rows if m.role == "model"}
    for i, user in enumerate(users):
        assert user.parent_id == (users[i - 1].id if i else None)
        reply = replies[user.id]
        assert reply.status == "complete", reply.error
        assert isinstance(reply.prompt, str) and reply.prompt.endswith(f"User: {user.content}\nAda:")
        assert USER_LINE.findall(reply.prompt) == [u.content for u in users[: i + 1]], reply.prompt
    return [u.content for u in users]


def assistant_conversation(service: Conversations) -> int:
    return service.create([parse_lane_spec("base@assistant", SamplingSettings(temperature=0.0, seed=1))])


def test_three_asks_at_once_one_runs_and_the_others_are_refused(
    tmp_path: Path, service: Conversations, cli_start: Start
) -> None:
    cid = assistant_conversation(service)
    first = ask(cli_start, tmp_path, url(service), cid, "concurrent 1", "--max-tokens", "12")
    # The first holds the lease; frozen there (SIGSTOP) so the other two surely meet it, however loaded the machine
    # is, and let go once they have been refused: well within the lease's 30 s, so its lapsing plays no part.
    deadline = time.monotonic() + 120
    while not service.turn_running(cid):
        assert first.poll() is None, outcome(first)
        assert time.monotonic() < deadline, "the first ask took no lease within 120 s"
        time.sleep(0.05)
    first.send_signal(signal.SIGSTOP)
    try:
        others = [ask(cli_start, tmp_path, url(service), cid, f"concurrent {n}", "--max-tokens", "12") for n in (2, 3)]
        refused = [outcome(p) for p in others]
    finally:
        first.send_signal(signal.SIGCONT)
    refusal = f"error: conversation {cid} has a turn running; wait or use --wait"
    assert [(code, stderr.strip()) for code, stderr in refused] == [(2, refusal), (2, refusal)], refused
    assert outcome(first)[0] == 0
    assert saved_chain(service, cid) == ["concurrent 1"]


def test_three_asks_at_once_with_wait_each_run_in_turn(
    tmp_path: Path, service: Conversations, cli_start: Start
) -> None:
    cid = assistant_conversation(service)
    processes = [
        ask(cli_start, tmp_path, url(service), cid, f"concurrent {n}", "--max-tokens", "12", "--wait")
        for n in (1, 2, 3)
    ]
    outcomes = [outcome(p) for p in processes]
    assert [code for code, _ in outcomes] == [0, 0, 0], outcomes
    waiting = f"conversation {cid} has a turn running; waiting for it…"
    assert sum(waiting in stderr for _, stderr in outcomes) >= 1, outcomes
    assert sorted(saved_chain(service, cid)) == ["concurrent 1", "concurrent 2", "concurrent 3"]


def test_a_killed_turn_leaves_a_lease_that_lapses(tmp_path: Path, service: Conversations, cli_start: Start) -> None:
    lane = parse_lane_spec("base@raw", SamplingSettings(temperature=0.8, max_tokens=2000, seed=3))
    cid = service.create([lane])
    short = {"SIMULACRA_TURN_LEASE_S": "3"}
    holder = ask(cli_start, tmp_path, url(service), cid, "Write a long story about a dragon.", **short)
    try:
        deadline = time.monotonic() + 120
        while not any(m.role == "model" and m.content for m in messages(service, cid)):
            assert holder.poll() is None, outcome(holder)
            assert time.monotonic() < deadline, "no reply streamed within 120 s"
            time.sleep(0.1)
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    assert service.turn_running(cid)  # left behind: the killed process could not give it back

    started = time.monotonic()
    code, stderr = outcome(
        ask(cli_start, tmp_path, url(service), cid, "And then?", "--max-tokens", "8", "--wait", **short)
    )
    assert code == 0, stderr
    assert time.monotonic() - started < 60
    users = [m for m in messages(service, cid) if m.role == "user"]
    assert [u.content for u in users] == ["Write a long story about a dragon.", "And then?"]
    assert not service.turn_running(cid)
