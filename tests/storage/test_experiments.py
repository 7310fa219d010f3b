"""Experiment rows on SQLite and PostgreSQL: a sample and its run's progress are written together, a cell never
holds a sample index twice, and resume's clean-up deletes only the replies no sample links to."""

from __future__ import annotations

import pytest
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from storage import experiments as store
from storage import repo


def test_run_cells_and_samples(session: Session, make_lane) -> None:  # type: ignore[no-untyped-def]
    suite = {"name": "s", "description": "d", "claim": "c", "lanes": ["base"]}
    experiment = store.experiment_for(session=session, suite=suite)
    assert store.experiment_for(session=session, suite=suite).id == experiment.id
    assert experiment.id is not None
    run = store.create_run(
        session=session,
        experiment_id=experiment.id,
        settings={"samples": 2},
        model_sha256={"base": "ab"},
        cells_total=1,
        samples_total=2,
    )
    assert run.id is not None and run.status == "queued"  # for workers to draw
    conversation = repo.create_conversation(session=session)
    assert conversation.id is not None
    lane = make_lane(conversation.id, 0)
    user = repo.add_user_message(session=session, conversation_id=conversation.id, parent_id=None, content="q")
    linked = repo.start_reply(
        session=session, conversation_id=conversation.id, lane_id=lane.id, parent_id=user.id, prompt="d"
    )
    orphan = repo.start_reply(
        session=session, conversation_id=conversation.id, lane_id=lane.id, parent_id=user.id, prompt="d"
    )
    linked_id, orphan_id, user_id = linked.id, orphan.id, user.id
    cell = store.add_cell(
        session=session, run_id=run.id, position=0, lane="base", prompt_index=0, conversation_id=conversation.id
    )
    assert cell.id is not None
    store.add_sample(
        session=session, cell_id=cell.id, sample_index=0, seed=2**32 - 1, message_id=linked_id, scores={"a": True}
    )
    assert store.get_run(session=session, run_id=run.id).samples_done == 1
    with pytest.raises(IntegrityError):
        store.add_sample(session=session, cell_id=cell.id, sample_index=0, seed=1, message_id=None, scores={})
    session.rollback()
    assert store.delete_unlinked_replies(session=session, cell=cell) == 1
    ids = [m.id for m in repo.list_messages(session=session, conversation_id=conversation.id)]
    assert linked_id in ids and orphan_id not in ids and user_id in ids
    store.set_run_status(session=session, run_id=run.id, status="stopped")
    [(listed, named)] = store.list_runs(session=session, suite="s")
    assert listed.status == "stopped" and listed.finished_at is not None and named.name == "s"
    assert [s.seed for s in store.list_samples(session=session, run_id=run.id)] == [2**32 - 1]
