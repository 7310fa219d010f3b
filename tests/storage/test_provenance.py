# What it takes to replay a reply (its seed, the model file's sha256, its metrics) and where a token branch
# came from (diverged_from_id, diverged_at): written by start_reply / finish_reply, read back and exported.

from collections.abc import Callable

import pytest
from sqlalchemy import Engine, text
from sqlmodel import Session

from storage import repo
from storage.tables import Lane
from tests.support.factories import id_of

SHA = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
METRICS = {"in_character_p": 0.875, "tokens": 12, "broke_at": None, "top": [["Ada", 0.5], ["I", 0.25]]}


class Turn:
    """One conversation with one lane and one question, to hang replies on."""

    def __init__(self, session: Session, make_lane: Callable[..., Lane]) -> None:
        self.session = session
        self.cid = id_of(repo.create_conversation(session=session).id)
        self.lane = id_of(make_lane(self.cid, 0).id)
        user = repo.add_user_message(session=session, conversation_id=self.cid, parent_id=None, content="Hi")
        self.user = id_of(user.id)

    def start(self, **branch: int | None) -> int:
        reply = repo.start_reply(
            session=self.session,
            conversation_id=self.cid,
            lane_id=self.lane,
            parent_id=self.user,
            prompt="Hi",
            **branch,
        )
        return id_of(reply.id)

    def finish(self, message_id: int, **replay: object) -> None:
        repo.finish_reply(
            session=self.session,
            message_id=message_id,
            content="Hello",
            tokens=[["Hello", 0.9, []]],
            status="complete",
            finish_reason="stop",
            error=None,
            ttft_ms=1.0,
            total_ms=2.0,
            tokens_per_s=3.0,
            **replay,  # type: ignore[arg-type]
        )


@pytest.fixture
def turn(session: Session, make_lane: Callable[..., Lane]) -> Turn:
    return Turn(session, make_lane)


def test_finish_reply_records_seed_model_and_metrics(engine: Engine, turn: Turn) -> None:
    replayable = turn.start()
    turn.finish(replayable, seed=4_294_967_295, model_sha256=SHA, metrics=METRICS)
    plain = turn.start()
    turn.finish(plain)
    with Session(engine) as fresh:
        by_id = {m.id: m for m in repo.list_messages(session=fresh, conversation_id=turn.cid)}
    assert (by_id[replayable].seed, by_id[replayable].model_sha256, by_id[replayable].metrics) == (
        4_294_967_295,
        SHA,
        METRICS,
    )
    assert (by_id[plain].seed, by_id[plain].model_sha256, by_id[plain].metrics) == (None, None, None)
    with engine.connect() as connection:  # no metrics is SQL NULL, not the JSON text 'null'
        assert connection.execute(text("SELECT metrics IS NULL FROM message WHERE id = :id"), {"id": plain}).scalar()

    export = repo.export_conversation(session=turn.session, conversation_id=turn.cid)
    exported = {m["id"]: m for m in export["messages"]}
    assert (exported[replayable]["seed"], exported[replayable]["model_sha256"]) == (4_294_967_295, SHA)
    assert exported[replayable]["metrics"] == METRICS


def test_a_token_branch_names_the_reply_it_diverged_from(engine: Engine, turn: Turn) -> None:
    original = turn.start()
    turn.finish(original, seed=7)
    branch = turn.start(diverged_from_id=original, diverged_at=3)
    regenerated = turn.start()
    with Session(engine) as fresh:
        by_id = {m.id: m for m in repo.list_messages(session=fresh, conversation_id=turn.cid)}
    assert (by_id[branch].diverged_from_id, by_id[branch].diverged_at) == (original, 3)
    assert by_id[branch].parent_id == by_id[original].parent_id == turn.user  # a sibling of what it branches
    assert (by_id[regenerated].diverged_from_id, by_id[regenerated].diverged_at) == (None, None)
    assert by_id[branch].status == "incomplete"

    # The mark survives an import, pointing at the imported copy of the original.
    exported = repo.export_conversation(session=turn.session, conversation_id=turn.cid)
    copy_id = repo.import_conversation(session=turn.session, data=exported)
    copied = repo.list_messages(session=turn.session, conversation_id=copy_id)
    [copied_branch] = [m for m in copied if m.diverged_from_id is not None]
    copied_original = next(m for m in copied if m.id == copied_branch.diverged_from_id)
    assert copied_original.conversation_id == copy_id and copied_original.seed == 7
    assert copied_branch.diverged_at == 3


def test_branch_points_are_checked(session: Session, turn: Turn, make_lane: Callable[..., Lane]) -> None:
    original = turn.start()
    other = Turn(session, make_lane)
    elsewhere = other.start()
    with pytest.raises(repo.NotFound, match="message 8080 does not exist"):
        turn.start(diverged_from_id=8080, diverged_at=0)
    with pytest.raises(repo.InvalidValue, match=f"message {elsewhere} belongs to conversation {other.cid}"):
        turn.start(diverged_from_id=elsewhere, diverged_at=1)
    with pytest.raises(repo.InvalidValue, match="diverged_at -1 is negative"):
        turn.start(diverged_from_id=original, diverged_at=-1)
    assert [m.id for m in repo.list_messages(session=session, conversation_id=turn.cid)] == [turn.user, original]
