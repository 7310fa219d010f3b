"""Saved rows without running a model: transcripts seeded as a finished turn writes them, a saved row's id, and how
many examples a property test generates."""

from __future__ import annotations

import os
from typing import Any


def id_of(value: int | None) -> int:
    """A saved row's id: `repo` returns rows whose `id` is typed optional, but a saved row always has one."""
    assert value is not None
    return value


def examples(count: int) -> int:
    """How many examples a property test generates: all of them, or a tenth in the quick loop
    (`make test-fast` sets SIMULACRA_EXAMPLES_SCALE=0.1); `make test` always runs them all."""
    return max(10, round(count * float(os.environ.get("SIMULACRA_EXAMPLES_SCALE", "1"))))


def seed_transcripts(url: str, count: int, *, seed: int = 0) -> list[int]:
    """`count` conversations written through storage.repo, as the app writes them: two lanes (a base lane with a
    mask snapshot, a chat lane with a system prompt), turns with token probabilities, metrics and per-reply
    settings, a regenerated reply, an edited user message (a branch), a branch from a token, an incomplete and a
    failed reply, annotations on replies and on the conversation. Returns the conversation ids."""
    import random

    from sqlmodel import Session

    from simulator.values import SamplingSettings
    from storage import repo
    from storage.db import make_engine

    rng = random.Random(seed)
    mask = {"name": "assistant", "frame": "A helpful AI talks with a user.", "user_name": "User", "stop": ["\nUser:"]}
    engine = make_engine(url)
    ids: list[int] = []
    try:
        with Session(engine) as session:
            for n in range(count):
                cid = id_of(repo.create_conversation(session=session, title=f"Transcript {n} · ünïcode 🐉").id)
                repo.set_notes(session=session, conversation_id=cid, notes=f"notes on {n}\nsecond line")
                lanes = [
                    id_of(
                        repo.add_lane(
                            session=session,
                            conversation_id=cid,
                            position=0,
                            label="base@assistant",
                            kind="simulator",
                            model="gemma-3-270m",
                            mask_name="assistant",
                            mask_snapshot=mask,
                            system_prompt=None,
                            settings=SamplingSettings(temperature=0.7, seed=rng.randrange(2**31)),
                        ).id
                    ),
                    id_of(
                        repo.add_lane(
                            session=session,
                            conversation_id=cid,
                            position=1,
                            label="chat",
                            kind="chat",
                            model="openai/gpt-4o-mini",
                            mask_name=None,
                            mask_snapshot=None,
                            system_prompt="Be brief.",
                            settings=SamplingSettings(temperature=0.0, top_k=0, stop=["\n\n"]),
                        ).id
                    ),
                ]
                _seed_turns(session, rng, cid, lanes)
                ids.append(cid)
    finally:
        engine.dispose()
    return ids


def _seed_reply(session: Any, rng: Any, cid: int, lane_id: int, parent: int, status: str, **start: Any) -> int:
    from simulator.values import SamplingSettings
    from storage import repo

    settings = SamplingSettings(max_tokens=rng.randint(8, 64), seed=rng.randrange(2**31))
    reply = id_of(
        repo.start_reply(
            session=session,
            conversation_id=cid,
            lane_id=lane_id,
            parent_id=parent,
            prompt="User: hi\nAI:",
            settings=settings,
            **start,
        ).id
    )
    tokens = [[f" w{rng.randrange(999)}", round(rng.random(), 4), [[" x", 0.01], [" y", 0.002]]] for _ in range(6)]
    text = "".join(t[0] for t in tokens)
    repo.update_reply(session=session, message_id=reply, content=text[:8], tokens=tokens[:2])
    if status == "incomplete":
        return reply
    repo.finish_reply(
        session=session,
        message_id=reply,
        content=text if status == "complete" else "",
        tokens=tokens,
        status=status,
        finish_reason="stop" if status == "complete" else "error",
        error=None if status == "complete" else "the server went away",
        ttft_ms=12.5,
        total_ms=210.25,
        tokens_per_s=41.5,
        seed=settings.seed,
        model_sha256="ab" * 32,
        metrics={"in_character_p": round(rng.random(), 4), "ended": "natural", "perplexity": 3.25},
    )
    return reply


def _seed_turns(session: Any, rng: Any, cid: int, lanes: list[int]) -> None:
    from storage import repo

    parent: int | None = None
    for turn in range(3):
        user = id_of(
            repo.add_user_message(session=session, conversation_id=cid, parent_id=parent, content=f"Q{turn}?").id
        )
        replies = [_seed_reply(session, rng, cid, lane, user, "complete") for lane in lanes]
        again = _seed_reply(session, rng, cid, lanes[0], user, rng.choice(["complete", "incomplete", "error"]))
        _seed_reply(session, rng, cid, lanes[0], user, "complete", diverged_from_id=replies[0], diverged_at=2)
        repo.add_annotation(session=session, message_id=replies[0], tags=["in-character"], rating=1, note="good")
        repo.add_annotation(session=session, message_id=again, tags=["refused", "odd"], rating=-1)
        parent = user
    edited = id_of(repo.add_user_message(session=session, conversation_id=cid, parent_id=None, content="Q0, edited").id)
    _seed_reply(session, rng, cid, lanes[1], edited, "complete")
    repo.add_annotation(session=session, conversation_id=cid, tags=["interesting"], note="a whole-conversation note")
