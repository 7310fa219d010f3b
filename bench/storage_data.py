"""Seeding bench/storage.py's throwaway databases: conversations of two lanes, their messages (with per-token
probabilities when asked) and annotations, bulk-inserted with ids assigned here.

Message text is drawn from the project's own prose (README, docs/ and the mask library), so words have natural
frequencies; the searched words (WORDS) are put into a known share of the messages.

bench/storage.py imports this after the storage package (its own name would hide the package otherwise).
"""

from __future__ import annotations

import random
import re
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, insert

from storage.tables import Annotation, Conversation, Lane, Message

ROOT = Path(__file__).resolve().parents[1]
# Words not in the corpus, put into this share of messages: only those messages contain them.
WORDS = {"lighthouse": 0.01, "seashell": 0.001}
TAGS = ("in-character", "broke-character", "refused", "hallucinated", "self-report", "interesting")


def corpus() -> list[str]:
    files = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    files += sorted((ROOT / "personas" / "library").glob("*.toml"))
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
