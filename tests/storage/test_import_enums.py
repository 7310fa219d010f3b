# The fields of an export that hold one of a few words (a message's role, status and finish reason, a lane's
# kind) take only those words: the pages show them beside a reply, so a file that puts a Markdown image or a link
# there is refused, naming the field and the words it allows, before anything is written.

import json
from typing import Any, get_args

import pytest
from sqlalchemy import Engine, update
from sqlmodel import Session, col

from simulator.values import FinishReason
from storage import repo
from storage.tables import Message
from tests.support.imports import ROW, _broken, _counts, _set

BEACON = "![t](http://127.0.0.1:9/leak?q=secret)"


def _reply_index(data: dict[str, Any]) -> int:
    return next(i for i, m in enumerate(data["messages"]) if m["role"] == "model" and m["status"] == "complete")


@pytest.mark.parametrize(
    ("field", "allowed"),
    [
        ("finish_reason", "'stop', 'length', 'cancelled' or 'error'"),
        ("status", "'complete', 'incomplete' or 'error'"),
        ("role", "'user' or 'model'"),
    ],
)
def test_a_message_word_outside_its_list_is_refused(
    engine: Engine, session: Session, exported: dict[str, Any], field: str, allowed: str
) -> None:
    index = _reply_index(exported)
    data = _broken(exported, _set(f"messages.{index}.{field}", BEACON))
    before = _counts(engine)
    problem = rf"messages\[{index}\]{ROW}{field}: Input should be {allowed}, got '!\[t\]"
    with pytest.raises(repo.ImportError_, match=problem):
        repo.load_export_bytes(json.dumps(data).encode(), "upload.json")
    with pytest.raises(repo.ImportError_, match=problem):
        repo.import_conversation(session=session, data=data)
    assert _counts(engine) == before


def test_a_lane_kind_outside_its_list_is_refused(engine: Engine, session: Session, exported: dict[str, Any]) -> None:
    data = _broken(exported, _set("lanes.0.kind", BEACON))
    with pytest.raises(repo.ImportError_, match=r"lanes\[0\]" + ROW + "kind: Input should be 'simulator' or 'chat'"):
        repo.import_conversation(session=session, data=data)


@pytest.mark.parametrize("reason", [*get_args(FinishReason), None])
def test_every_finish_reason_a_turn_stores_imports(session: Session, exported: dict[str, Any], reason: str) -> None:
    index = _reply_index(exported)
    data = _broken(exported, _set(f"messages.{index}.finish_reason", reason))
    cid = repo.import_conversation(session=session, data=data)
    again = repo.export_conversation(session=session, conversation_id=cid)
    assert again["messages"][index]["finish_reason"] == reason


def test_a_stored_word_from_before_the_check_is_left_out_of_the_export(
    session: Session, exported: dict[str, Any]
) -> None:
    """A database that took such a file before imports checked it exports without the word, and imports again."""
    cid = repo.import_conversation(session=session, data=exported)
    index = _reply_index(exported)
    reply_id = repo.export_conversation(session=session, conversation_id=cid)["messages"][index]["id"]
    session.exec(update(Message).where(col(Message.id) == reply_id).values(finish_reason=BEACON))
    session.commit()
    again = repo.export_conversation(session=session, conversation_id=cid)
    assert again["messages"][index]["finish_reason"] is None
    copy_id = repo.import_conversation(session=session, data=again)
    assert (
        repo.export_conversation(session=session, conversation_id=copy_id)["messages"][index]["finish_reason"] is None
    )
