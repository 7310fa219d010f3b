"""Saved replies to review, made through the storage layer as a turn saves them, without running a model."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Engine
from sqlmodel import Session

from simulator.values import SamplingSettings
from storage import experiments, repo

# label, model, mask
THREE_LANES = (
    ("base@rogue-ai", "gemma-3-270m", "rogue-ai"),
    ("base@assistant", "gemma-3-270m", "assistant"),
    ("chat@assistant", "smollm2-135m-instruct", "assistant"),
)


def save_conversation(
    engine: Engine,
    lanes: Sequence[tuple[str, str, str | None]] = THREE_LANES,
    prompts: Sequence[str] = ("Who are you?",),
    samples: int = 1,
) -> tuple[int, list[list[int]]]:
    """A conversation with `lanes`, one turn per prompt, each lane answering each turn `samples` times.
    Returns the conversation id and, per turn, the reply ids (lane by lane, sample by sample)."""
    with Session(engine) as session:
        conversation = repo.create_conversation(session=session, title="review me")
        assert conversation.id is not None
        lane_ids = []
        for position, (label, model, mask) in enumerate(lanes):
            lane = repo.add_lane(
                session=session,
                conversation_id=conversation.id,
                position=position,
                label=label,
                kind="chat" if label.startswith("chat") else "simulator",
                model=model,
                mask_name=mask,
                mask_snapshot=None,
                system_prompt=None,
                settings=SamplingSettings(),
            )
            lane_ids.append(lane.id)
        turns, parent = [], None
        for prompt in prompts:
            user = repo.add_user_message(
                session=session, conversation_id=conversation.id, parent_id=parent, content=prompt
            )
            parent = user.id
            replies = []
            for lane_id in lane_ids:
                for _ in range(samples):
                    replies.append(_reply(session, conversation.id, lane_id, user.id, f"{prompt} reply {len(replies)}"))
            turns.append(replies)
        return conversation.id, turns


def _reply(session: Session, conversation_id: int, lane_id: int | None, parent_id: int | None, text: str) -> int:
    assert lane_id is not None
    message = repo.start_reply(
        session=session, conversation_id=conversation_id, lane_id=lane_id, parent_id=parent_id, prompt=text
    )
    assert message.id is not None
    repo.finish_reply(
        session=session,
        message_id=message.id,
        content=text,
        tokens=None,
        status="complete",
        finish_reason="stop",
        error=None,
        ttft_ms=1.0,
        total_ms=2.0,
        tokens_per_s=10.0,
        seed=7,
    )
    return message.id


def save_run(engine: Engine, conversation_id: int, replies: Sequence[int], suite: str = "review-me") -> int:
    """An experiment run whose one cell's samples are `replies`, as the experiment runner links them."""
    with Session(engine) as session:
        experiment = experiments.experiment_for(session=session, suite={"name": suite})
        assert experiment.id is not None
        run = experiments.create_run(
            session=session,
            experiment_id=experiment.id,
            settings={},
            model_sha256={},
            cells_total=1,
            samples_total=len(replies),
        )
        assert run.id is not None
        cell = experiments.add_cell(
            session=session, run_id=run.id, position=0, lane="mixed", prompt_index=0, conversation_id=conversation_id
        )
        assert cell.id is not None
        for index, message_id in enumerate(replies):
            experiments.add_sample(
                session=session, cell_id=cell.id, sample_index=index, seed=index, message_id=message_id, scores={}
            )
        return run.id
