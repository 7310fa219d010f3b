# A turn whose replies cannot be written (issue 18): when the disk filled mid-turn, the turn's two replies stayed
# empty and `incomplete` for good, and the page's job ended with SQLAlchemy's message and its SQL. Now the turn
# stops, marks the replies it left unfinished `error` with the reason, and says so in one line.

from __future__ import annotations

import sqlite3
from functools import partial
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, event

from simulator.registry import Registry
from simulator.values import SamplingSettings
from storage.db import make_engine
from ui.service.conversations.jobs import TurnManager
from ui.service.conversations.service import Conversations, LaneSpec
from ui.service.conversations.turns import Plan

SETTINGS = SamplingSettings(temperature=0.0, max_tokens=64, seed=1)
LANES = [
    LaneSpec(model="base", mask="raw", settings=SETTINGS),
    LaneSpec(model="base", mask="assistant", settings=SETTINGS),
]


class DiskFillsMidTurn:
    """The disk filling up, as SQLite sees it, from the turn's first reply update on: SQLite's own size limit
    (PRAGMA max_page_count, which it never sets below the file's size) pins every connection's file where it is,
    and SQLite then refuses to grow it with its real SQLITE_FULL, "database or disk is full"."""

    def __init__(self, engine: Engine) -> None:
        self.full = False
        event.listen(engine, "before_cursor_execute", self._before)

    def _before(self, _conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        self.full = self.full or statement.startswith("UPDATE message SET")
        if self.full:
            cursor.connection.execute("PRAGMA max_page_count = 1")


def _rows(database: Path, sql: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as db:  # another program, without the limit
        return db.execute(sql).fetchall()


def test_a_turn_that_fills_the_disk_marks_its_unfinished_replies_failed_with_one_line(
    tmp_path: Path, registry: Registry
) -> None:
    database = tmp_path / "simulacra.db"
    engine = make_engine(f"sqlite:///{database}")
    try:
        with sqlite3.connect(database) as db:
            db.execute("VACUUM")  # no free pages left over from the migrations: growing means growing the file
        service = Conversations(engine, registry)
        cid = service.create(LANES)
        DiskFillsMidTurn(engine)

        plan = partial(service.plan_send, cid, "Tell me a story.")
        job = TurnManager().run_plan("send", cid, plan, service.run, _labels)  # the page's way: a job
        while not job.done:
            job.wait(job.version, 60)
    finally:
        engine.dispose()

    assert job.error is not None and "\n" not in job.error and "SQL" not in job.error
    assert job.error.startswith("the turn stopped, its replies could not be saved: the database")
    assert job.error.endswith("cannot grow: the disk is full")
    replies = _rows(database, "SELECT status, error FROM message WHERE role = 'model'")
    # None left unfinished; a lane that ended before the disk filled may be complete, the others say why not.
    failed = [error for status, error in replies if status == "error"]
    assert len(replies) == 2 and "incomplete" not in [status for status, _ in replies], replies
    assert failed and all(error.endswith("the disk is full") for error in failed), replies


def _labels(plan: Plan) -> list[str]:
    return [job.lane.label for job in plan.jobs]
