# Lanes stream from worker threads while the UI reads, and a CLI may hold a second engine on the
# same file: writes from any of them must be visible to the others without "database is locked".

import threading
from collections.abc import Callable

from sqlalchemy import Engine
from sqlmodel import Session

from storage import repo
from storage.db import make_engine
from storage.tables import Lane
from tests.support.factories import id_of


def test_two_engines_on_the_same_file(db_url: str) -> None:
    writer, reader = make_engine(db_url), make_engine(db_url)
    try:
        with Session(writer) as session:
            cid = id_of(repo.create_conversation(session=session, title="shared").id)
            repo.add_user_message(session=session, conversation_id=cid, parent_id=None, content="Hi")
        with Session(reader) as session:
            assert repo.get_conversation(session=session, conversation_id=cid).title == "shared"
            assert [m.content for m in repo.list_messages(session=session, conversation_id=cid)] == ["Hi"]
            repo.set_title(session=session, conversation_id=cid, title="renamed by the reader")
        with Session(writer) as session:
            assert repo.get_conversation(session=session, conversation_id=cid).title == "renamed by the reader"
    finally:
        writer.dispose()
        reader.dispose()


def test_reply_written_from_another_thread_is_visible(
    engine: Engine, session: Session, make_lane: Callable[..., Lane]
) -> None:
    cid = id_of(repo.create_conversation(session=session).id)
    lane_id = id_of(make_lane(cid, 0).id)
    question = repo.add_user_message(session=session, conversation_id=cid, parent_id=None, content="Hi")
    started = threading.Event()
    proceed = threading.Event()
    reply_ids: list[int] = []

    def stream() -> None:
        with Session(engine) as worker:
            reply = repo.start_reply(
                session=worker, conversation_id=cid, lane_id=lane_id, parent_id=question.id, prompt="Hi"
            )
            reply_ids.append(id_of(reply.id))
            repo.update_reply(session=worker, message_id=id_of(reply.id), content="Hel", tokens=None)
            started.set()
            proceed.wait(timeout=10)
            repo.finish_reply(
                session=worker,
                message_id=id_of(reply.id),
                content="Hello",
                tokens=None,
                status="complete",
                finish_reason="stop",
                error=None,
                ttft_ms=1.0,
                total_ms=5.0,
                tokens_per_s=200.0,
            )

    thread = threading.Thread(target=stream)
    thread.start()
    assert started.wait(timeout=10)
    partial = repo.list_messages(session=session, conversation_id=cid)[-1]
    assert (partial.id, partial.status, partial.content) == (reply_ids[0], "incomplete", "Hel")
    proceed.set()
    thread.join(timeout=10)
    assert not thread.is_alive()
    session.expire_all()  # the main session read this row before the worker finished it
    final = repo.list_messages(session=session, conversation_id=cid)[-1]
    assert (final.status, final.content, final.finish_reason) == ("complete", "Hello", "stop")


def test_lanes_stream_at_once_while_the_ui_reads(engine: Engine, make_lane: Callable[..., Lane]) -> None:
    with Session(engine) as session:
        cid = id_of(repo.create_conversation(session=session).id)
        lane_ids = [id_of(make_lane(cid, position).id) for position in range(4)]
        question_id = id_of(
            repo.add_user_message(session=session, conversation_id=cid, parent_id=None, content="Go").id
        )
    errors: list[BaseException] = []
    steps = 40

    def stream(lane_id: int) -> None:
        try:
            with Session(engine) as worker:
                reply = repo.start_reply(
                    session=worker, conversation_id=cid, lane_id=lane_id, parent_id=question_id, prompt="Go"
                )
                tokens: list[list[object]] = []
                for step in range(steps):
                    tokens.append([f" t{step}", 0.5, [[" u", 0.25]]])
                    repo.update_reply(
                        session=worker, message_id=id_of(reply.id), content=f"{lane_id}:{step}", tokens=tokens
                    )
                repo.finish_reply(
                    session=worker,
                    message_id=id_of(reply.id),
                    content=f"{lane_id}:done",
                    tokens=tokens,
                    status="complete",
                    finish_reason="length",
                    error=None,
                    ttft_ms=1.0,
                    total_ms=2.0,
                    tokens_per_s=3.0,
                )
        except BaseException as e:  # reported below, in the test thread
            errors.append(e)

    threads = [threading.Thread(target=stream, args=(lane_id,)) for lane_id in lane_ids]
    for thread in threads:
        thread.start()
    with Session(engine) as ui:
        while any(thread.is_alive() for thread in threads):
            repo.list_messages(session=ui, conversation_id=cid)
            repo.list_conversations(session=ui)
            ui.expire_all()
    for thread in threads:
        thread.join()
    assert errors == []
    with Session(engine) as session:
        replies = repo.list_messages(session=session, conversation_id=cid)[1:]
        assert sorted(m.content for m in replies) == sorted(f"{lane_id}:done" for lane_id in lane_ids)
        assert all(m.status == "complete" and m.tokens is not None and len(m.tokens) == steps for m in replies)
