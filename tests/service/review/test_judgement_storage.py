# Judgements in the database (SQLite and PostgreSQL): saved with the order shown and read back with both replies'
# identities; every refused vote saves nothing; the replies a queue is drawn from.

from __future__ import annotations

import pytest
from sqlalchemy import Engine, func
from sqlmodel import Session, select

from storage import judgements, repo
from storage.errors import InvalidValue, NotFound
from storage.tables.judgements import Judgement
from tests.support.review import save_conversation


def count(engine: Engine) -> int:
    with Session(engine) as session:
        return session.exec(select(func.count()).select_from(Judgement)).one()


def vote(engine: Engine, left: int, right: int, **overrides: object) -> Judgement:
    arguments: dict[str, object] = {
        "better": "left",
        "answers": {"in_character": "right"},
        "note": "",
        "reviewer": "Ada",
        "question_set": "default",
    }
    arguments.update(overrides)
    with Session(engine) as session:
        return judgements.add_judgement(
            session=session,
            left_message_id=left,
            right_message_id=right,
            **arguments,  # type: ignore[arg-type]
        )


def test_a_vote_is_saved_with_the_order_shown_and_read_back_with_identities(engine: Engine) -> None:
    _, [[a, b, c]] = save_conversation(engine)
    saved = vote(engine, c, a, better="right", answers={"feelings": "both"}, note="close call")
    assert saved.pair == f"{a}-{c}" and (saved.left_message_id, saved.right_message_id) == (c, a)
    with Session(engine) as session:
        [row] = judgements.list_judgements(session=session)
        assert row.pair == f"{a}-{c}" and row.better == "right" and row.answers == {"feelings": "both"}
        assert (row.left.label, row.right.label) == ("chat@assistant", "base@rogue-ai")
        assert (row.left.model, row.right.mask) == ("smollm2-135m-instruct", "rogue-ai")
        assert judgements.voted_pairs(session=session, reviewer="Ada") == {f"{a}-{c}"}
        assert judgements.list_judgements(session=session, reviewer="Bo") == []
        texts = judgements.reply_texts(session=session, message_ids=[a, c])
        assert texts[c].content == "Who are you? reply 2" and texts[c].prompt == "Who are you?"
    assert b  # the third reply makes two more pairs, unjudged


def test_each_refused_vote_says_why_and_saves_nothing(engine: Engine) -> None:
    _, [[a, b, _]] = save_conversation(engine)
    _, [[other, *_]] = save_conversation(engine)
    with Session(engine) as session:
        user_id = repo.list_messages(session=session, conversation_id=1)[0].id
    vote(engine, a, b)
    refusals: list[tuple[dict[str, object], type[Exception], str]] = [
        ({"left": 999_999}, NotFound, "message 999999 does not exist"),
        ({"right": a}, InvalidValue, "two different replies"),
        ({"right": other}, InvalidValue, "do not answer the same user message"),
        ({"right": user_id}, InvalidValue, "is not a reply"),
        ({"better": "both"}, InvalidValue, "better is one of left, right, tie, bad"),
        ({"answers": {"feelings": "maybe"}}, InvalidValue, "one of left, right, both, neither"),
        ({"reviewer": " "}, InvalidValue, "the reviewer name is empty"),
        ({"left": b, "right": a}, InvalidValue, f"Ada already judged pair {a}-{b}"),
    ]
    for overrides, error, message in refusals:
        left, right = overrides.pop("left", a), overrides.pop("right", b)
        with pytest.raises(error, match=message):
            vote(engine, left, right, reviewer=overrides.pop("reviewer", "Ada"), **overrides)  # type: ignore[arg-type]
    assert count(engine) == 1
    vote(engine, b, a, reviewer="Bo")  # another reviewer may judge the same pair
    assert count(engine) == 2


def test_the_queue_draws_on_complete_replies_and_tags_and_deleting_a_conversation_deletes_its_votes(
    engine: Engine,
) -> None:
    first, [[a, b, c]] = save_conversation(engine)
    second, _ = save_conversation(engine, samples=2)
    with Session(engine) as session:
        broken = repo.start_reply(session=session, conversation_id=first, lane_id=1, parent_id=1, prompt="x")
        assert broken.id is not None
        replies = judgements.review_replies(session=session, conversation_ids=[first])
        assert [r.message_id for r in replies] == [a, b, c]  # the incomplete one is left out
        assert len(judgements.review_replies(session=session)) == 9
        repo.add_annotation(session=session, message_id=a, tags=["in-character"])
        assert judgements.conversations_tagged(session=session, tag="in-character") == {first}
    vote(engine, a, b)
    with Session(engine) as session:
        session.delete(session.get(repo.Conversation, first))
        session.commit()
    assert count(engine) == 0 and second
