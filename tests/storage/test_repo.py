# The repository functions the app calls: a conversation round trip, the message tree, summaries,
# annotations and export, all on a real migrated SQLite file.

import json
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine, inspect, text
from sqlmodel import Session, SQLModel

from simulator.values import SamplingSettings
from storage import repo
from storage.db import make_engine
from storage.tables import Annotation, Conversation, Lane, Message
from tests.support.factories import id_of

MASK = {"name": "assistant", "preamble": "A helpful AI talks with a user.", "speakers": ["User", "AI"]}
TOKENS = [["Hello", 0.91, [["Hi", 0.05], ["Hey", 0.02]]], [" there", 0.5, [[" world", 0.3]]]]
CHAT_PROMPT = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hello?"}]


def _columns(table: type[SQLModel]) -> set[str]:
    return set(inspect(table).columns.keys())


def test_full_conversation_round(engine: Engine, session: Session, make_lane: Callable[..., Lane]) -> None:
    conversation = repo.create_conversation(session=session, title="first")
    cid = id_of(conversation.id)
    base = make_lane(cid, 0, label="Base · Assistant mask", mask_name="assistant", mask_snapshot=MASK)
    chat_settings = {"kind": "chat", "model": "openai/gpt-4o-mini", "system_prompt": "Be brief."}
    chat = make_lane(cid, 1, label="Chat", seed=None, stop=[], **chat_settings)
    question = repo.add_user_message(session=session, conversation_id=cid, parent_id=None, content="Hello?")
    for lane, prompt in ((base, "User: Hello?\nAI:"), (chat, CHAT_PROMPT)):
        reply = repo.start_reply(
            session=session, conversation_id=cid, lane_id=id_of(lane.id), parent_id=question.id, prompt=prompt
        )
        assert (reply.role, reply.status, reply.content) == ("model", "incomplete", "")
        repo.update_reply(session=session, message_id=id_of(reply.id), content="Hel", tokens=TOKENS[:1])
        repo.finish_reply(
            session=session,
            message_id=id_of(reply.id),
            content="Hello there",
            tokens=TOKENS if lane is base else None,
            status="complete",
            finish_reason="stop",
            error=None,
            ttft_ms=12.5,
            total_ms=80.0,
            tokens_per_s=41.0,
        )

    with Session(engine) as fresh:  # read back through a new session, nothing cached
        lanes = repo.list_lanes(session=fresh, conversation_id=cid)
        assert [lane.label for lane in lanes] == ["Base · Assistant mask", "Chat"]
        assert lanes[0].mask_snapshot == MASK and lanes[0].stop == ["\nUser:"] and lanes[0].seed == 1
        assert (lanes[1].kind, lanes[1].model, lanes[1].system_prompt) == tuple(chat_settings.values())
        assert lanes[1].mask_snapshot is None and lanes[1].seed is None and lanes[1].stop == []
        settings = (lanes[1].temperature, lanes[1].top_p, lanes[1].top_k, lanes[1].max_tokens)
        assert settings == (0.0, 1.0, 40, 64)
        messages = repo.list_messages(session=fresh, conversation_id=cid)
        assert [(m.role, m.lane_id, m.parent_id) for m in messages] == [
            ("user", None, None),
            ("model", base.id, question.id),
            ("model", chat.id, question.id),
        ]
        user, base_reply, chat_reply = messages
        assert user.prompt is None and user.tokens is None and user.status == "complete"
        assert base_reply.content == "Hello there" and base_reply.tokens == TOKENS
        assert base_reply.prompt == "User: Hello?\nAI:"
        assert chat_reply.prompt == CHAT_PROMPT and chat_reply.tokens is None
        assert (chat_reply.status, chat_reply.finish_reason, chat_reply.error) == ("complete", "stop", None)
        assert (chat_reply.ttft_ms, chat_reply.total_ms, chat_reply.tokens_per_s) == (12.5, 80.0, 41.0)
        assert all(m.created_at.tzinfo == UTC for m in messages)


def test_incomplete_reply_survives_a_restart(db_url: str) -> None:
    engine = make_engine(db_url)
    with Session(engine) as session:
        cid = id_of(repo.create_conversation(session=session).id)
        lane_id = id_of(
            repo.add_lane(
                session=session,
                conversation_id=cid,
                position=0,
                label="Base",
                kind="simulator",
                model="m",
                mask_name=None,
                mask_snapshot=None,
                system_prompt=None,
                settings=SamplingSettings(temperature=0.7, top_p=0.9, top_k=40, max_tokens=32, seed=None, stop=[]),
            ).id
        )
        question = repo.add_user_message(session=session, conversation_id=cid, parent_id=None, content="Go on")
        reply = repo.start_reply(
            session=session, conversation_id=cid, lane_id=lane_id, parent_id=question.id, prompt="Go on"
        )
        repo.update_reply(session=session, message_id=id_of(reply.id), content="Once upon", tokens=TOKENS)
    engine.dispose()  # the app stops mid-stream: finish_reply never runs

    engine = make_engine(db_url)
    try:
        with Session(engine) as session:
            saved = repo.list_messages(session=session, conversation_id=cid)[-1]
            assert (saved.status, saved.content, saved.tokens) == ("incomplete", "Once upon", TOKENS)
            assert saved.finish_reason is None and saved.total_ms is None
    finally:
        engine.dispose()


def test_late_progress_does_not_undo_finish(session: Session, make_lane: Callable[..., Lane]) -> None:
    cid = id_of(repo.create_conversation(session=session).id)
    lane = make_lane(cid, 0)
    question = repo.add_user_message(session=session, conversation_id=cid, parent_id=None, content="Hi")
    reply = repo.start_reply(
        session=session, conversation_id=cid, lane_id=id_of(lane.id), parent_id=question.id, prompt=""
    )
    mid = id_of(reply.id)
    repo.finish_reply(
        session=session,
        message_id=mid,
        content="",
        tokens=None,
        status="error",
        finish_reason=None,
        error="server unreachable",
        ttft_ms=None,
        total_ms=3.0,
        tokens_per_s=None,
    )
    repo.update_reply(session=session, message_id=mid, content="late", tokens=[])
    saved = repo.list_messages(session=session, conversation_id=cid)[-1]
    assert (saved.status, saved.content, saved.error) == ("error", "", "server unreachable")


def test_missing_rows_raise_not_found(session: Session) -> None:
    with pytest.raises(repo.NotFound, match="conversation 999 does not exist"):
        repo.get_conversation(session=session, conversation_id=999)
    with pytest.raises(repo.NotFound, match="message 5 does not exist"):
        repo.update_reply(session=session, message_id=5, content="x", tokens=None)
    with pytest.raises(repo.NotFound):
        repo.add_user_message(session=session, conversation_id=999, parent_id=None, content="x")
    with pytest.raises(repo.NotFound):
        repo.export_conversation(session=session, conversation_id=999)


def test_tree_branches_are_siblings(session: Session, make_lane: Callable[..., Lane]) -> None:
    cid = id_of(repo.create_conversation(session=session).id)
    lane_id = id_of(make_lane(cid, 0).id)
    first = repo.add_user_message(session=session, conversation_id=cid, parent_id=None, content="A")
    reply = repo.start_reply(session=session, conversation_id=cid, lane_id=lane_id, parent_id=first.id, prompt="A")
    again = repo.start_reply(session=session, conversation_id=cid, lane_id=lane_id, parent_id=first.id, prompt="A")
    second = repo.add_user_message(session=session, conversation_id=cid, parent_id=first.id, content="B")
    edited = repo.add_user_message(session=session, conversation_id=cid, parent_id=first.id, content="B, edited")
    assert reply.parent_id == again.parent_id == first.id  # a regenerated reply is a sibling
    assert second.parent_id == edited.parent_id == first.id  # so is an edited user message

    with pytest.raises(repo.InvalidValue, match="user messages"):
        repo.add_user_message(session=session, conversation_id=cid, parent_id=reply.id, content="C")
    other = id_of(repo.create_conversation(session=session).id)
    with pytest.raises(repo.InvalidValue, match="belongs to conversation"):
        repo.add_user_message(session=session, conversation_id=other, parent_id=first.id, content="C")
    with pytest.raises(repo.InvalidValue, match="belongs to conversation"):
        repo.start_reply(session=session, conversation_id=other, lane_id=lane_id, parent_id=None, prompt="")
    assert len(repo.list_messages(session=session, conversation_id=cid)) == 5


def test_values_outside_the_data_model_are_refused(session: Session, make_lane: Callable[..., Lane]) -> None:
    cid = id_of(repo.create_conversation(session=session).id)
    with pytest.raises(repo.InvalidValue, match="lane kind 'base'"):
        make_lane(cid, 0, kind="base")
    question = repo.add_user_message(session=session, conversation_id=cid, parent_id=None, content="Hi")
    with pytest.raises(repo.InvalidValue, match="not a reply"):
        repo.finish_reply(
            session=session,
            message_id=id_of(question.id),
            content="",
            tokens=None,
            status="complete",
            finish_reason=None,
            error=None,
            ttft_ms=None,
            total_ms=None,
            tokens_per_s=None,
        )
    with pytest.raises(repo.InvalidValue, match="status 'done'"):
        repo.finish_reply(
            session=session,
            message_id=id_of(question.id),
            content="",
            tokens=None,
            status="done",  # type: ignore[arg-type]
            finish_reason=None,
            error=None,
            ttft_ms=None,
            total_ms=None,
            tokens_per_s=None,
        )
    assert repo.list_lanes(session=session, conversation_id=cid) == []


def test_updated_at_follows_messages_not_titles(session: Session, make_lane: Callable[..., Lane]) -> None:
    conversation = repo.create_conversation(session=session)
    cid = id_of(conversation.id)
    created = conversation.updated_at
    assert created.tzinfo == UTC

    question = repo.add_user_message(session=session, conversation_id=cid, parent_id=None, content="Hi")
    after_user = repo.get_conversation(session=session, conversation_id=cid).updated_at
    assert after_user == question.created_at and after_user > created

    reply = repo.start_reply(
        session=session,
        conversation_id=cid,
        lane_id=id_of(make_lane(cid, 0).id),
        parent_id=question.id,
        prompt="",
    )
    repo.update_reply(session=session, message_id=id_of(reply.id), content="H", tokens=None)
    after_progress = repo.get_conversation(session=session, conversation_id=cid).updated_at
    assert after_progress == reply.created_at
    repo.finish_reply(
        session=session,
        message_id=id_of(reply.id),
        content="Hello",
        tokens=None,
        status="complete",
        finish_reason="stop",
        error=None,
        ttft_ms=1.0,
        total_ms=2.0,
        tokens_per_s=3.0,
    )
    after_finish = repo.get_conversation(session=session, conversation_id=cid).updated_at
    assert after_finish > after_progress

    renamed = repo.set_title(session=session, conversation_id=cid, title="Greetings")
    assert renamed.title == "Greetings" and renamed.updated_at == after_finish


def test_list_conversations_summaries(session: Session, make_lane: Callable[..., Lane]) -> None:
    quiet = repo.create_conversation(session=session, title="quiet")
    busy = repo.create_conversation(session=session, title="busy")
    empty = repo.create_conversation(session=session)
    qid, bid = id_of(quiet.id), id_of(busy.id)
    make_lane(bid, 1, label="Chat")
    make_lane(bid, 0, label="Base")
    first = repo.add_user_message(session=session, conversation_id=bid, parent_id=None, content="Tell me a story")
    repo.add_user_message(session=session, conversation_id=bid, parent_id=first.id, content="Another")
    repo.add_user_message(session=session, conversation_id=qid, parent_id=None, content="Quiet one")

    summaries = repo.list_conversations(session=session)
    # quiet got the latest message, then busy; empty has only its creation time
    assert [s.id for s in summaries] == [qid, bid, empty.id]
    busy_summary = summaries[1]
    assert busy_summary.title == "busy" and busy_summary.message_count == 2
    assert busy_summary.lane_labels == ["Base", "Chat"]
    assert busy_summary.first_user_message == "Tell me a story"
    assert summaries[2].message_count == 0 and summaries[2].lane_labels == []
    assert summaries[2].first_user_message is None
    assert [s.id for s in repo.list_conversations(session=session, limit=1, offset=1)] == [bid]


def test_annotations_on_messages_and_conversations(session: Session, make_lane: Callable[..., Lane]) -> None:
    cid = id_of(repo.create_conversation(session=session).id)
    other = id_of(repo.create_conversation(session=session).id)
    question = repo.add_user_message(session=session, conversation_id=cid, parent_id=None, content="Hi")
    on_message = repo.add_annotation(
        session=session, message_id=question.id, tags=["greeting", "short"], rating=1, note="fine"
    )
    on_conversation = repo.add_annotation(session=session, conversation_id=cid, rating=0)
    repo.add_annotation(session=session, conversation_id=other, tags=["elsewhere"])

    assert on_message.conversation_id == cid and on_message.tags == ["greeting", "short"]
    assert on_conversation.message_id is None and on_conversation.tags == [] and on_conversation.note == ""
    listed = repo.list_annotations(session=session, conversation_id=cid)
    assert [a.id for a in listed] == [on_message.id, on_conversation.id]

    with pytest.raises(repo.InvalidValue, match="needs a message_id or a conversation_id"):
        repo.add_annotation(session=session)
    with pytest.raises(repo.InvalidValue, match=r"not one of -1, 0, \+1"):
        repo.add_annotation(session=session, conversation_id=cid, rating=7)
    with pytest.raises(repo.InvalidValue, match="not a string"):
        repo.add_annotation(session=session, conversation_id=cid, tags="funny")
    with pytest.raises(repo.InvalidValue, match="belongs to conversation"):
        repo.add_annotation(session=session, message_id=question.id, conversation_id=other)
    with pytest.raises(repo.NotFound):
        repo.add_annotation(session=session, message_id=12345)


def test_export_is_complete_and_json_ready(session: Session, make_lane: Callable[..., Lane]) -> None:
    cid = id_of(repo.create_conversation(session=session, title="export me").id)
    lane = make_lane(cid, 0, mask_name="assistant", mask_snapshot=MASK)
    question = repo.add_user_message(session=session, conversation_id=cid, parent_id=None, content="Hi")
    reply = repo.start_reply(
        session=session, conversation_id=cid, lane_id=id_of(lane.id), parent_id=question.id, prompt=CHAT_PROMPT
    )
    repo.update_reply(session=session, message_id=id_of(reply.id), content="Hello", tokens=TOKENS)
    repo.add_annotation(session=session, message_id=reply.id, tags=["polite"], rating=1)

    exported = repo.export_conversation(session=session, conversation_id=cid)
    assert set(exported) == {"format", "version", "conversation", "lanes", "messages", "annotations"}
    assert (exported["format"], exported["version"]) == ("simulacra.conversation", 1)
    # every column of every table, so an export can be re-imported without losing anything
    for key, table in (("lanes", Lane), ("messages", Message), ("annotations", Annotation)):
        assert set(exported[key][0]) == _columns(table), key
    assert set(exported["conversation"]) == _columns(Conversation)
    assert [m["role"] for m in exported["messages"]] == ["user", "model"]

    decoded = json.loads(json.dumps(exported))
    assert decoded == exported
    assert decoded["lanes"][0]["mask_snapshot"] == MASK
    assert decoded["messages"][1]["tokens"] == TOKENS and decoded["messages"][1]["prompt"] == CHAT_PROMPT
    assert decoded["messages"][1]["status"] == "incomplete"
    created = datetime.fromisoformat(decoded["conversation"]["created_at"])
    assert created.utcoffset() is not None and created.utcoffset().total_seconds() == 0  # type: ignore[union-attr]


def test_missing_json_is_sql_null(engine: Engine, session: Session) -> None:
    cid = id_of(repo.create_conversation(session=session).id)
    repo.add_user_message(session=session, conversation_id=cid, parent_id=None, content="Hi")
    with engine.connect() as connection:
        row = connection.execute(text("SELECT tokens IS NULL, prompt IS NULL FROM message")).one()
    assert tuple(row) == (1, 1)


def test_returned_rows_outlive_their_session(engine: Engine) -> None:
    with Session(engine) as session:
        conversation = repo.create_conversation(session=session, title="detached")
    assert conversation.title == "detached" and conversation.id is not None
