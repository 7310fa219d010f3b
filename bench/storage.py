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

Message text is drawn from the project's own prose (README and the mask library), so words have natural
frequencies; the searched words are put into a known share of the messages.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, insert, text
from sqlmodel import Session

# Run as a script, this file's folder comes first on the import path, and its name would hide the storage package.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

from storage import exports, repo  # noqa: E402
from storage.bulk import paused_gc  # noqa: E402
from storage.db import make_engine  # noqa: E402
from storage.tables import Annotation, Conversation, Lane, Message  # noqa: E402

sys.path.append(str(Path(__file__).resolve().parent))  # after the storage package: bench/databases.py
from databases import BACKENDS, Databases  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
# Words not in the corpus, put into this share of messages: only those messages contain them.
WORDS = {"lighthouse": 0.01, "seashell": 0.001}
SEARCH_TARGET_MS = 200.0
SEARCH_RATIO_TARGET = 10.0
EXPORT_TARGET_S = 3.0
PAGE_TARGET_S = 2.0
TAGS = ("in-character", "broke-character", "refused", "hallucinated", "self-report", "interesting")


def corpus() -> list[str]:
    files = [ROOT / "README.md", *sorted((ROOT / "personas" / "library").glob("*.toml"))]
    return re.findall(r"[A-Za-z][A-Za-z'’-]*|[.,;:?!]", " ".join(f.read_text(encoding="utf-8") for f in files))


class Text:
    """Random passages of the corpus, each of WORDS put into its share of them."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.words = corpus()
        if found := set(WORDS) & {w.lower() for w in self.words}:
            raise SystemExit(f"the corpus now contains {sorted(found)}: pick other words to search for")

    def passage(self, low: int, high: int, *, searched: bool = True) -> str:
        n = self.rng.randint(low, high)
        start = self.rng.randrange(len(self.words) - n)
        words = self.words[start : start + n]
        for word, share in WORDS.items() if searched else ():
            if self.rng.random() < share:
                words.insert(self.rng.randrange(len(words) + 1), word)
        return re.sub(r" ([.,;:?!])", r"\1", " ".join(words))


def _tokens(rng: random.Random, count: int) -> list[Any]:
    # What simulator/ stores per generated token: [text, p, [[alternative, p] x 5]].
    def alternatives() -> list[list[Any]]:
        return [[f" a{rng.randrange(5000)}", round(rng.random() / 5, 4)] for _ in range(5)]

    return [[f" w{rng.randrange(5000)}", round(rng.random(), 4), alternatives()] for _ in range(count)]


def _lane(lane_id: int, cid: int, position: int, now: datetime) -> dict[str, Any]:
    kind, model, mask = (("simulator", "base", "assistant"), ("chat", "chat", None))[position % 2]
    return {
        "id": lane_id,
        "conversation_id": cid,
        "position": position,
        "label": f"{model}@{mask}" if mask else model,
        "kind": kind,
        "model": model,
        "mask_name": mask,
        "mask_snapshot": None,
        "system_prompt": None,
        "temperature": 0.7,
        "top_p": 1.0,
        "top_k": 40,
        "max_tokens": 128,
        "seed": None,
        "stop": [],
        "created_at": now,
    }


def _message(
    message_id: int, cid: int, lane_id: int | None, parent: int | None, content: str, when: datetime, **extra: Any
) -> dict[str, Any]:
    row = {
        "id": message_id,
        "conversation_id": cid,
        "lane_id": lane_id,
        "parent_id": parent,
        "role": "user" if lane_id is None else "model",
        "content": content,
        "status": "complete",
        "error": None,
        "finish_reason": None if lane_id is None else "stop",
        "tokens": None,
        "prompt": None,
        "ttft_ms": None,
        "total_ms": None,
        "tokens_per_s": None,
        "seed": None,
        "model_sha256": None,
        "metrics": None,
        "diverged_from_id": None,
        "diverged_at": None,
        "created_at": when,
    }
    row.update(extra)
    return row


class Seeder:
    """Bulk inserts through SQLAlchemy Core (executemany), ids assigned here: seconds, not minutes.

    The FTS triggers run for every row as they would for the app's own writes.
    """

    def __init__(self, engine: Engine, rng: random.Random) -> None:
        self.engine = engine
        self.rng = rng
        self.text = Text(rng)
        self.ids = {"conversation": 0, "lane": 0, "message": 0, "annotation": 0}

    def _next(self, table: str) -> int:
        self.ids[table] += 1
        return self.ids[table]

    def conversations(self, count: int, turns: int, *, start: datetime, tokens: int = 0) -> int:
        """`count` conversations of two lanes and `turns` turns each (3 messages a turn); returns messages."""
        rows: dict[str, list[dict[str, Any]]] = {"conversation": [], "lane": [], "message": [], "annotation": []}
        for n in range(count):
            when = start + timedelta(minutes=n)
            cid = self._next("conversation")
            title = self.text.passage(3, 8, searched=False)
            conversation = {"id": cid, "title": title, "notes": "", "created_at": when, "updated_at": when}
            rows["conversation"].append(conversation)
            lanes = [self._next("lane") for _ in range(2)]
            rows["lane"] += [_lane(lane_id, cid, i, when) for i, lane_id in enumerate(lanes)]
            parent: int | None = None
            for _ in range(turns):
                user = self._next("message")
                rows["message"].append(_message(user, cid, None, parent, self.text.passage(4, 30), when))
                for lane_id in lanes:
                    reply = self._next("message")
                    extra = {"tokens": _tokens(self.rng, tokens)} if tokens else {}
                    rows["message"].append(
                        _message(
                            reply,
                            cid,
                            lane_id,
                            user,
                            self.text.passage(10, 120),
                            when,
                            ttft_ms=120.0,
                            total_ms=2400.0,
                            tokens_per_s=40.0,
                            **extra,
                        )
                    )
                    if self.rng.random() < 0.05:
                        rows["annotation"].append(self._annotation(reply, cid, when))
                parent = user
        with self.engine.begin() as connection:
            for table, model in (
                ("conversation", Conversation),
                ("lane", Lane),
                ("message", Message),
                ("annotation", Annotation),
            ):
                if rows[table]:
                    connection.execute(insert(model.__table__), rows[table])  # type: ignore[attr-defined]
        return len(rows["message"])

    def _annotation(self, message_id: int, cid: int, when: datetime) -> dict[str, Any]:
        return {
            "id": self._next("annotation"),
            "message_id": message_id,
            "conversation_id": cid,
            "tags": self.rng.sample(TAGS, self.rng.randint(0, 2)),
            "rating": self.rng.choice((-1, 0, 1, None)),
            "note": self.text.passage(0, 12, searched=False),
            "created_at": when,
        }


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
