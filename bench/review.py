"""The review leaderboard at scale: 10,000 judgements over 500 lanes, with 1,000 bootstrap resamples.

A SQLite file gets 500 lane labels, each used in two of 100 conversations of 10 lanes (so the labels' comparisons
connect, as a label such as base@assistant recurs across conversations), 10 turns each: 10,000 saved replies, and
10,000 votes by five reviewers on random pairs of replies to the same turn, won with the Bradley–Terry probability
of known lane strengths. Timed, median of 3: the whole leaderboard as `simulacra review leaderboard` builds it
(the judgements read with both replies' identities, strengths with 1,000 resamples, question rates, position bias,
agreement), against the same leaderboard without resamples (the reference: what the bootstrap adds). Also printed:
the share of true strengths inside their intervals, and the machine's load (the target is wall time).

Target: under 2 s.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

# Run as a script, this file's folder comes first on the import path, and bench/storage.py would hide the package.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import numpy as np  # noqa: E402
from sqlmodel import Session  # noqa: E402

from storage.db import make_engine  # noqa: E402
from storage.tables import Conversation, Lane, Message  # noqa: E402
from storage.tables.judgements import Judgement  # noqa: E402
from ui.service.review.service import Review  # noqa: E402

CONVERSATIONS, LANES_EACH, TURNS, VOTES, LABELS = 100, 10, 10, 10_000, 500
TARGET_S = 2.0


def _lane(conversation_id: int, position: int, number: int) -> Lane:
    return Lane(conversation_id=conversation_id, position=position, label=f"lane-{number:03d}@mask-{number % 7}",
                kind="simulator", model=f"model-{number % 13}", mask_name=f"mask-{number % 7}", temperature=0.8,
                top_p=1.0, top_k=40, max_tokens=64)  # fmt: skip


def populate(url: str, rng: np.random.Generator) -> np.ndarray:
    """The database; returns the lanes' true log-strengths (by lane number)."""
    engine = make_engine(url)
    strengths = rng.normal(0.0, 1.0, LABELS)
    numbers = np.concatenate([rng.permutation(LABELS) for _ in range(CONVERSATIONS * LANES_EACH // LABELS)])
    replies: list[list[tuple[int, int]]] = []  # per turn: (message id, lane number)
    with Session(engine) as session:
        for c in range(CONVERSATIONS):
            conversation = Conversation(title=f"bench {c}")
            session.add(conversation)
            session.flush()
            assert conversation.id is not None
            here = [int(n) for n in numbers[c * LANES_EACH : (c + 1) * LANES_EACH]]
            lanes = [_lane(conversation.id, p, n) for p, n in enumerate(here)]
            session.add_all(lanes)
            parent = None
            for t in range(TURNS):
                user = Message(conversation_id=conversation.id, parent_id=parent, role="user", content=f"prompt {t}")
                session.add(user)
                session.flush()
                parent = user.id
                turn = [Message(conversation_id=conversation.id, lane_id=lane.id, parent_id=user.id, role="model",
                                content=f"reply {c}.{t}.{p}") for p, lane in enumerate(lanes)]  # fmt: skip
                session.add_all(turn)
                session.flush()
                replies.append([(m.id or 0, n) for m, n in zip(turn, here, strict=True)])
        _votes(session, replies, strengths, rng)
        session.commit()
    engine.dispose()
    return strengths


Turns = list[list[tuple[int, int]]]


def _votes(session: Session, replies: Turns, strengths: np.ndarray, rng: np.random.Generator) -> None:
    seen: set[tuple[str, str]] = set()
    while len(seen) < VOTES:
        turn = replies[rng.integers(len(replies))]
        (a, lane_a), (b, lane_b) = (turn[i] for i in rng.choice(len(turn), 2, replace=False))
        reviewer = f"reviewer-{rng.integers(5)}"
        pair = f"{min(a, b)}-{max(a, b)}"
        if (pair, reviewer) in seen:
            continue
        seen.add((pair, reviewer))
        p_left = 1 / (1 + np.exp(-(strengths[lane_a] - strengths[lane_b])))
        better = "left" if rng.random() < p_left else "right"
        answer = ("left", "right", "both", "neither")[rng.integers(4)]
        session.add(Judgement(pair=pair, left_message_id=a, right_message_id=b, better=better,
                              answers={"in_character": answer}, reviewer=reviewer))  # fmt: skip


def timed(review: Review, resamples: int) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    review.leaderboard("lane", resamples=resamples)
    return time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{Path(folder) / 'review.db'}"
        started = time.perf_counter()
        strengths = populate(url, np.random.default_rng(13))
        took = time.perf_counter() - started
        print(f"database: {VOTES:,} judgements over {LABELS} lane labels in {took:.1f} s")
        engine = make_engine(url)
        review = Review(engine)
        full = [timed(review, 1000) for _ in range(3)]
        reference = [timed(review, 0) for _ in range(3)]
        board = review.leaderboard("lane", resamples=1000)
        engine.dispose()
    truth = {f"lane-{n:03d}@mask-{n % 7}": s for n, s in enumerate(strengths - strengths.mean())}
    inside = np.mean([e.low <= truth[e.name] <= e.high for e in board.entries])
    wall = statistics.median(w for w, _ in full)
    cpu = statistics.median(c for _, c in full)
    ref = statistics.median(w for w, _ in reference)
    print(f"leaderboard, 1,000 resamples: {wall:.2f} s wall ({cpu:.2f} s CPU), median of 3")
    print(f"leaderboard without resamples (reference): {ref:.2f} s wall: ratio {wall / ref:.1f}")
    print(f"true strengths inside their 95% intervals: {inside:.1%} of {len(board.entries)}")
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(f"target < {TARGET_S} s: {'met' if wall < TARGET_S else 'MISSED'}")


if __name__ == "__main__":
    main()
