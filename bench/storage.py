"""Transcript storage at scale: search, export and the Transcripts page on large throwaway databases: SQLite files,
or with `--database postgresql` new databases on a PostgreSQL server (bench/databases.py says which).

1. 100,000 messages (2,000 conversations of two lanes, with annotations): full-text search for a word returns its
   first page in under 200 ms, and at least 10 x faster than a `LIKE '%word%'` scan (`ILIKE` on PostgreSQL) over the
   same rows (messages, annotation notes, titles and notes) that finds the same first page (the reference, measured
   in the same run).
   Two words are measured, one in 1% of the messages and one in 0.1%; a word in nearly every message is shown too.
2. Exporting a 5,000-message conversation (every reply with per-token probabilities) to JSON takes under 3 s;
   the reference is reading the same rows with plain SQL and dumping them.
3. The Transcripts page (the real app through AppTest) renders its first page over 1,000 conversations in under
   2 s; the reference is the same page over an empty database, in the same process.

Message text is drawn from the project's own prose (README, docs/ and the mask library), so words have natural
frequencies; the searched words are put into a known share of the messages (bench/storage_data.py seeds them).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, text
from sqlmodel import Session

# Run as a script, this file's folder comes first on the import path, and its name would hide the storage package.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

from storage import exports, repo  # noqa: E402
from storage.bulk import paused_gc  # noqa: E402
from storage.db import make_engine  # noqa: E402

# After the storage package: bench/databases.py and bench/storage_data.py.
sys.path.append(str(Path(__file__).resolve().parent))
from databases import BACKENDS, Databases  # noqa: E402
from storage_data import ROOT, WORDS, Seeder  # noqa: E402

SEARCH_TARGET_MS = 200.0
SEARCH_RATIO_TARGET = 10.0
EXPORT_TARGET_S = 3.0
PAGE_TARGET_S = 2.0


def timed(run: Callable[[], Any], rounds: int) -> tuple[float, Any]:
    """The median wall time of `rounds` calls after one warm-up call, and the last result."""
    result = run()
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - started)
    return statistics.median(times), result


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


# -- 1. search ------------------------------------------------------------------------------------------

# The same first page without the index: every message, annotation note, title and notes read with LIKE (SQLite's
# LIKE ignores case like the search does; PostgreSQL's does not, so ILIKE there).
LIKE_FIRST_PAGE = """
SELECT conversation.id FROM conversation WHERE conversation.id IN (
    SELECT conversation_id FROM message WHERE content {like} :pattern
    UNION ALL SELECT conversation_id FROM annotation WHERE note {like} :pattern
    UNION ALL SELECT id FROM conversation WHERE title {like} :pattern OR notes {like} :pattern)
ORDER BY conversation.updated_at DESC, conversation.id DESC LIMIT 20
"""


def _search_word(engine: Engine, session: Session, word: str, rounds: int) -> bool:
    like = "ILIKE" if engine.dialect.name == "postgresql" else "LIKE"
    scan = text(LIKE_FIRST_PAGE.format(like=like))
    with engine.connect() as connection:
        containing = connection.execute(
            text(f"SELECT count(*) FROM message WHERE content {like} :p"), {"p": f"%{word}%"}
        ).scalar_one()
        like_s, like_rows = timed(lambda: connection.execute(scan, {"pattern": f"%{word}%"}).scalars().all(), rounds)
    search_s, hits = timed(lambda: repo.search(session=session, query=word, limit=20), rounds)
    count_s, total = timed(lambda: repo.count_conversations(session=session, query=word), rounds)
    same = [h.conversation_id for h in hits] == list(like_rows)
    ratio = like_s / search_s
    ok = search_s * 1000 < SEARCH_TARGET_MS and ratio >= SEARCH_RATIO_TARGET and same
    print(
        f"{word!r} ({containing:,} messages, {total} conversations): first page of 20 with snippets"
        f" {search_s * 1000:.1f} ms (target < {SEARCH_TARGET_MS:.0f} ms); the total for the pager"
        f" {count_s * 1000:.1f} ms"
    )
    print(
        f"  {like} scan for the same first page (reference): {like_s * 1000:.1f} ms; same conversations:"
        f" {'yes' if same else 'NO'}; ratio {ratio:.1f} x faster (target >= {SEARCH_RATIO_TARGET:.0f} x)"
        f"  {verdict(ok)}"
    )
    return ok


def bench_search(databases: Databases, rounds: int) -> bool:
    url = databases.url("search")
    engine = make_engine(url)
    started = time.perf_counter()
    messages = Seeder(engine, random.Random(1)).conversations(2000, 17, start=datetime(2026, 1, 1, tzinfo=UTC))
    databases.analyze(url)
    print(
        f"{databases.backend}: seeded {messages:,} messages in 2,000 conversations"
        f" in {time.perf_counter() - started:.1f} s"
    )
    try:
        with Session(engine) as session:
            results = [_search_word(engine, session, word, rounds) for word in WORDS]
            common_s, _ = timed(lambda: repo.search(session=session, query="the", limit=20), rounds)
    finally:
        engine.dispose()
    print(f"  for comparison, a word in nearly every message ('the'): {common_s * 1000:.1f} ms for its first page")
    return all(results)


# -- 2. export ------------------------------------------------------------------------------------------


JSON_COLUMNS = ("tokens", "prompt", "metrics")


def _raw_rows(engine: Engine) -> str:
    """The reference: the same message rows read with plain SQL, JSON columns decoded, dumped one per line."""
    with engine.connect() as connection, paused_gc():
        result = connection.execute(text("SELECT * FROM message WHERE conversation_id = 1"))
        rows = [dict(row._mapping) for row in result]
        for row in rows:  # SQLite hands JSON back as text; psycopg decodes it already
            row.update((name, json.loads(row[name])) for name in JSON_COLUMNS if isinstance(row[name], str))
        return "\n".join(json.dumps(row, ensure_ascii=False, default=str) for row in rows)


def bench_export(databases: Databases, rounds: int) -> bool:
    url = databases.url("export")
    engine = make_engine(url)
    seeder = Seeder(engine, random.Random(2))
    # One conversation: 1,667 turns x (1 user message + 2 replies) = 5,001 messages, 40 tokens per reply.
    messages = seeder.conversations(1, 1667, start=datetime(2026, 1, 1, tzinfo=UTC), tokens=40)
    databases.analyze(url)

    def export() -> str:  # what `simulacra export ID` and the Transcripts page's JSON download run
        with Session(engine) as session:
            return exports.to_json(repo.export_conversation(session=session, conversation_id=1))

    try:
        export_s, data = timed(export, rounds)
        raw_s, _ = timed(lambda: _raw_rows(engine), rounds)
    finally:
        engine.dispose()
    ok = export_s < EXPORT_TARGET_S
    print(
        f"export of a {messages:,}-message conversation to JSON ({len(data) / 1e6:.1f} MB): {export_s:.2f} s"
        f"  (target < {EXPORT_TARGET_S:.0f} s)  {verdict(ok)}"
    )
    print(
        f"the same rows read with plain SQL, JSON decoded and dumped (reference): {raw_s:.2f} s;"
        f" ratio {export_s / raw_s:.2f}"
    )
    return ok


# -- 3. the Transcripts page ------------------------------------------------------------------------------


def _page_seconds(database_url: str, rounds: int) -> tuple[float, float, int]:
    """(first render in this process, median render of a new browser session, hits shown) for the page."""
    from streamlit.testing.v1 import AppTest

    os.environ["SIMULACRA_DATABASE_URL"] = database_url
    renders = []
    shown = 0
    for _ in range(rounds + 1):
        app = AppTest.from_file(str(ROOT / "ui" / "web" / "app.py"), default_timeout=60).switch_page(
            "views/transcripts.py"
        )
        started = time.perf_counter()
        app.run()
        renders.append(time.perf_counter() - started)
        if app.exception:
            raise SystemExit(f"the Transcripts page failed: {app.exception[0].value}")
        shown = sum(1 for b in app.main.button if (b.key or "").startswith("tr-open-"))
    return renders[0], statistics.median(renders[1:] or renders), shown


def bench_page(databases: Databases, rounds: int) -> bool:
    directory = databases.directory
    page_url, empty_url, warm_url = databases.url("page"), databases.url("empty"), databases.url("warmup")
    engine = make_engine(page_url)
    Seeder(engine, random.Random(3)).conversations(1000, 5, start=datetime(2026, 1, 1, tzinfo=UTC))
    engine.dispose()
    databases.analyze(page_url)
    make_engine(empty_url).dispose()
    # The app reads its settings from the environment: nothing from the checkout's .env or simulacra.toml.
    os.environ.update(SIMULACRA_DATA_DIR=str(directory), SIMULACRA_CONFIG=str(directory / "none.toml"))
    os.chdir(directory)
    _page_seconds(warm_url, 0)  # imports and Streamlit's own first run
    empty_first, empty_s, _ = _page_seconds(empty_url, rounds)
    full_first, full_s, shown = _page_seconds(page_url, rounds)
    ok = full_first < PAGE_TARGET_S and full_s < PAGE_TARGET_S and shown == 20
    print(
        f"Transcripts page over 1,000 conversations, first page ({shown} shown): {full_s * 1000:.0f} ms"
        f" for a new session, {full_first * 1000:.0f} ms the first time (opens the database)"
        f"  (target < {PAGE_TARGET_S:.0f} s)  {verdict(ok)}"
    )
    print(
        f"the same page over an empty database (reference): {empty_s * 1000:.0f} ms"
        f" ({empty_first * 1000:.0f} ms the first time); ratio {full_s / empty_s:.2f}"
    )
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=7, help="timed repeats of each measurement (median)")
    parser.add_argument("--database", choices=BACKENDS, default="sqlite", help="where the throwaway databases live")
    parser.add_argument("--only", choices=("search", "export", "page"), default=None, help="run one benchmark")
    args = parser.parse_args()
    benches = {
        "search": lambda d: bench_search(d, args.rounds),
        "export": lambda d: bench_export(d, max(1, args.rounds // 2)),
        "page": lambda d: bench_page(d, args.rounds),
    }
    with tempfile.TemporaryDirectory(prefix="simulacra-bench-") as tmp, Databases(args.database, Path(tmp)) as dbs:
        results = [run(dbs) for name, run in benches.items() if args.only in (None, name)]
        os.chdir(ROOT)  # leave the directory before it is removed
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
