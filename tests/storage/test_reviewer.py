# Reviewer names on annotations: the one rule for a name, stored on add and edit, and carried through the json
# export, an import and the Markdown export; a bad name in a file is refused with the field named.

import json
from collections.abc import Callable

import pytest
from sqlmodel import Session

from storage import repo
from storage.annotations import check_reviewer
from storage.exports import to_markdown
from storage.tables import Lane
from tests.support.factories import id_of


@pytest.fixture
def reply(session: Session, make_lane: Callable[..., Lane]) -> tuple[int, int]:
    cid = id_of(repo.create_conversation(session=session, title="Walruses").id)
    lane_id = id_of(make_lane(cid, 0).id)
    user = repo.add_user_message(session=session, conversation_id=cid, parent_id=None, content="Hi")
    started = repo.start_reply(session=session, conversation_id=cid, lane_id=lane_id, parent_id=user.id, prompt="")
    return cid, id_of(started.id)


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("", "is empty"),
        ("   \t", "is empty"),
        ("x" * 65, "has 65 characters; at most 64"),
        ("Ada\nLovelace", "control character (U+000A)"),
        ("Ada\x1b[31m", "control character (U+001B)"),
        ("\u202eadA", "control character (U+202E)"),
    ],
)
def test_a_bad_name_is_one_clear_error(name: str, problem: str) -> None:
    with pytest.raises(repo.InvalidValue) as raised:
        check_reviewer(name)
    message = str(raised.value)
    assert message.startswith("the reviewer name ") and problem in message and "\n" not in message


def test_a_name_is_trimmed_and_may_be_any_script() -> None:
    assert check_reviewer("  Ada  ") == "Ada"
    assert check_reviewer("x" * 64) == "x" * 64
    assert check_reviewer("Łukasz 李 👩\u200d🔬") == "Łukasz 李 👩\u200d🔬"


def test_add_and_edit_sign_the_annotation(session: Session, reply: tuple[int, int]) -> None:
    cid, message_id = reply
    first = repo.add_annotation(session=session, message_id=message_id, tags=["refused"], reviewer=" Ada ")
    unsigned = repo.add_annotation(session=session, message_id=message_id, note="who?")
    assert (first.reviewer, unsigned.reviewer) == ("Ada", None)
    repo.update_annotation(session=session, annotation_id=id_of(first.id), tags=[], rating=1, note="", reviewer="Bo")
    repo.update_annotation(session=session, annotation_id=id_of(unsigned.id), tags=[], rating=0, note="still")
    stored = {a.id: a.reviewer for a in repo.list_annotations(session=session, conversation_id=cid)}
    assert stored == {first.id: "Bo", unsigned.id: None}  # an edit without a name keeps the one there
    with pytest.raises(repo.InvalidValue, match="reviewer name is empty"):
        repo.add_annotation(session=session, message_id=message_id, note="x", reviewer="")
    assert len(repo.list_annotations(session=session, conversation_id=cid)) == 2  # nothing saved


def test_the_name_travels_through_json_and_markdown(session: Session, reply: tuple[int, int]) -> None:
    cid, message_id = reply
    repo.finish_reply(
        session=session,
        message_id=message_id,
        content="Walruses sleep.",
        tokens=None,
        status="complete",
        finish_reason="stop",
        error=None,
        ttft_ms=None,
        total_ms=None,
        tokens_per_s=None,
    )
    repo.add_annotation(session=session, message_id=message_id, rating=1, note="good", reviewer="Ada")
    repo.add_annotation(session=session, conversation_id=cid, note="overall", reviewer="Bo")
    exported = repo.export_conversation(session=session, conversation_id=cid)
    assert [a["reviewer"] for a in exported["annotations"]] == ["Ada", "Bo"]
    new_id = repo.import_conversation(session=session, data=json.loads(json.dumps(exported)))
    again = repo.export_conversation(session=session, conversation_id=new_id)
    assert [a["reviewer"] for a in again["annotations"]] == ["Ada", "Bo"]
    markdown = to_markdown(again)
    assert "> **Annotation** by Ada: rating +1" in markdown and "> **Annotation** by Bo" in markdown


@pytest.mark.parametrize(("value", "problem"), [("", "is empty"), ("x" * 65, "65 characters"), (7, "string")])
def test_an_import_refuses_a_bad_name(session: Session, reply: tuple[int, int], value: object, problem: str) -> None:
    cid, message_id = reply
    repo.add_annotation(session=session, message_id=message_id, note="n", reviewer="Ada")
    exported = repo.export_conversation(session=session, conversation_id=cid)
    exported["annotations"][0]["reviewer"] = value
    before = len(repo.list_conversations(session=session))
    with pytest.raises(repo.ImportError_, match=r"reviewer.*" + problem):
        repo.import_conversation(session=session, data=exported)
    assert len(repo.list_conversations(session=session)) == before
