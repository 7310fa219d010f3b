"""Concurrent writers: several app instances streaming replies into one database at once.

Four writer processes (four app instances, or lanes of several) each stream replies for 60 s the way
ui/service/conversations/turns.py saves them: a user message, a reply saved as `incomplete` when it starts, its text
and tokens (each with top-5 alternatives) written every 0.5 s (FLUSH_EVERY_S) while it grows at about 40 tokens/s, and
finalised when it ends after about 3 s. Each write is timed. Afterwards every reply a writer finished is read back.

Targets: 0 rows lost (every user message and reply there, complete, with its last text and every token), and a p95
flush latency under 50 ms. Run on PostgreSQL (bench/databases.py says which server) and on a SQLite file for
reference, in the same run; `--database` picks one.
"""

from __future__ import annotations

import argparse
import multiprocessing
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

# Run as a script, this file's folder comes first on the import path, and bench/storage.py would hide the package.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

from sqlmodel import Session, col, select  # noqa: E402

from simulator.values import SamplingSettings  # noqa: E402
from storage import repo  # noqa: E402
from storage.db import make_engine  # noqa: E402
from storage.tables import Message  # noqa: E402
from ui.service.conversations.turns import FLUSH_EVERY_S  # noqa: E402

sys.path.append(str(Path(__file__).resolve().parent))  # after the storage package: bench/databases.py
from databases import BACKENDS, Databases  # noqa: E402

WRITERS = 4
TOKENS_PER_S = 40
FLUSHES_PER_REPLY = 6
TOKENS_PER_REPLY = FLUSHES_PER_REPLY * int(TOKENS_PER_S * FLUSH_EVERY_S)
LOST_TARGET = 0
P95_TARGET_MS = 50.0


def _token(rng: random.Random) -> list[Any]:
    return [f" w{rng.randrange(5000)}", round(rng.random(), 4), [[f" a{rng.randrange(5000)}", 0.01] for _ in range(5)]]


def _reply(session: Session, rng: random.Random, cid: int, lane_id: int, parent: int, timings: list[float]) -> int:
    """Stream one reply like turns._Saver; returns its id. Each write's wall time goes into `timings`."""
    started = time.perf_counter()
    reply = repo.start_reply(session=session, conversation_id=cid, lane_id=lane_id, parent_id=parent, prompt="Hi")
    timings.append(time.perf_counter() - started)
    tokens: list[Any] = []
    tick = time.monotonic()
    for flush in range(FLUSHES_PER_REPLY):
        tick += FLUSH_EVERY_S
        time.sleep(max(0.0, tick - time.monotonic()))
        tokens += [_token(rng) for _ in range(int(TOKENS_PER_S * FLUSH_EVERY_S))]
        content = "".join(t[0] for t in tokens)
        started = time.perf_counter()
        if flush < FLUSHES_PER_REPLY - 1:
            repo.update_reply(session=session, message_id=reply.id or 0, content=content, tokens=tokens)
        else:
            repo.finish_reply(
                session=session, message_id=reply.id or 0, content=content, tokens=tokens, status="complete",
                finish_reason="length", error=None, ttft_ms=25.0, total_ms=3000.0, tokens_per_s=40.0,
            )  # fmt: skip
        timings.append(time.perf_counter() - started)
    return reply.id or 0


def writer(url: str, number: int, seconds: float, start: Any, results: Any) -> None:
    """One app instance: its own engine, one conversation, replies streamed until `seconds` have passed."""
    rng = random.Random(number)
    engine = make_engine(url)
    timings: list[float] = []
    written: dict[int, int] = {}  # reply id -> its token count
    users: list[int] = []
    try:
        with Session(engine) as session:
            cid = repo.create_conversation(session=session, title=f"writer {number}").id or 0
            lane = repo.add_lane(
                session=session, conversation_id=cid, position=0, label="base", kind="simulator", model="base",
                mask_name=None, mask_snapshot=None, system_prompt=None, settings=SamplingSettings(),
            )  # fmt: skip
            start.wait()
            deadline = time.monotonic() + seconds
            parent: int | None = None
            while time.monotonic() < deadline:
                user = repo.add_user_message(session=session, conversation_id=cid, parent_id=parent, content="Go on")
                parent = user.id or 0
                users.append(parent)
                written[_reply(session, rng, cid, lane.id or 0, parent, timings)] = TOKENS_PER_REPLY
        results.put((number, timings, written, users, None))
    except Exception as e:  # reported by the parent: a writer that fails has lost rows
        results.put((number, timings, written, users, f"{type(e).__name__}: {e}"))
    finally:
        engine.dispose()


def _lost(url: str, written: dict[int, int], users: list[int]) -> int:
    """Rows a writer wrote that are not in the database as it left them."""
    engine = make_engine(url)
    try:
        with Session(engine) as session:
            rows = session.execute(select(Message).where(col(Message.id).in_([*written, *users]))).scalars().all()
            found = {m.id: m for m in rows}
    finally:
        engine.dispose()
    lost = sum(1 for user in users if user not in found)
    for reply_id, count in written.items():
        row = found.get(reply_id)
        if row is None or row.status != "complete" or row.tokens is None or len(row.tokens) != count:
            lost += 1
        elif row.content != "".join(t[0] for t in row.tokens):
            lost += 1
    return lost


def run(databases: Databases, seconds: float) -> bool:
    url = databases.url("writers")
    make_engine(url).dispose()  # migrated once, before the writers open it
    context = multiprocessing.get_context("spawn")
    start, results = context.Event(), context.Queue()
    processes = [context.Process(target=writer, args=(url, n, seconds, start, results)) for n in range(WRITERS)]
    for process in processes:
        process.start()
    time.sleep(3)  # each writer imports and opens its engine first
    start.set()
    outcomes = [results.get(timeout=seconds + 120) for _ in processes]
    for process in processes:
        process.join(timeout=30)
    timings = [t for _, ts, _, _, _ in outcomes for t in ts]
    written = {k: v for _, _, w, _, _ in outcomes for k, v in w.items()}
    users = [u for _, _, _, us, _ in outcomes for u in us]
    errors = [error for _, _, _, _, error in outcomes if error]
    lost = _lost(url, written, users) + len(errors)
    p95 = statistics.quantiles(timings, n=20)[-1] * 1000 if len(timings) > 1 else float("nan")
    ok = lost == LOST_TARGET and p95 < P95_TARGET_MS
    print(
        f"{databases.backend}: {WRITERS} writers x {seconds:.0f} s, a flush every {FLUSH_EVERY_S} s:"
        f" {len(written)} replies and {len(users)} user messages, {len(timings)} writes;"
        f" rows lost {lost} (target {LOST_TARGET}); flush latency median"
        f" {statistics.median(timings) * 1000:.1f} ms, p95 {p95:.1f} ms, max {max(timings) * 1000:.1f} ms"
        f" (target p95 < {P95_TARGET_MS:.0f} ms)  {'PASS' if ok else 'FAIL'}"
    )
    for error in errors:
        print(f"  a writer failed: {error}")
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=60.0, help="how long each writer streams")
    parser.add_argument("--database", choices=BACKENDS, default=None, help="one backend (default: PostgreSQL, SQLite)")
    args = parser.parse_args()
    results = []
    for backend in [args.database] if args.database else ["postgresql", "sqlite"]:
        with tempfile.TemporaryDirectory(prefix="simulacra-bench-") as tmp, Databases(backend, Path(tmp)) as dbs:
            results.append(run(dbs, args.seconds))
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
