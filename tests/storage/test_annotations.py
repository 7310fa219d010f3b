# Editing and deleting annotations and conversation notes: saved at once, read back through a new session,
# and the search index following every change (a note's old words stop matching, deleted ones vanish).

from collections.abc import Callable

import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from storage import repo
from storage.tables import Lane
from tests.support.factories import id_of


def _found(session: Session, query: str) -> list[int]:
    return [hit.conversation_id for hit in repo.search(session=session, query=query)]


@pytest.fixture
def reply(session: Session, make_lane: Callable[..., Lane]) -> tuple[int, int]:
    """A conversation with one question and one reply: (conversation id, reply id)."""
    cid = id_of(repo.create_conversation(session=session, title="Walruses").id)
    lane_id = id_of(make_lane(cid, 0).id)
    user = repo.add_user_message(session=session, conversation_id=cid, parent_id=None, content="Hi")
    started = repo.start_reply(session=session, conversation_id=cid, lane_id=lane_id, parent_id=user.id, prompt="")
    return cid, id_of(started.id)


def test_an_edited_annotation_replaces_tags_rating_and_note(
    engine: Engine, session: Session, reply: tuple[int, int]
) -> None:
    cid, message_id = reply
    annotation = repo.add_annotation(
        session=session, message_id=message_id, tags=["refused"], rating=-1, note="a marmalade mention"
    )
    assert _found(session, "marmalade") == [cid]

    edited = repo.update_annotation(
        session=session,
        annotation_id=id_of(annotation.id),
        tags=["in-character", "self-report", "in-character"],
        rating=1,
        note="now about quinces",
    )
    assert (edited.id, edited.message_id, edited.conversation_id) == (annotation.id, message_id, cid)
    with Session(engine) as fresh:
        [saved] = repo.list_annotations(session=fresh, conversation_id=cid)
    assert (saved.tags, saved.rating, saved.note) == (["in-character", "self-report"], 1, "now about quinces")
    assert _found(session, "quinces") == [cid]
    assert _found(session, "marmalade") == []  # the old words left the index with the old note
    assert [h.conversation_id for h in repo.search(session=session, query="", tag="self-report")] == [cid]
    assert repo.search(session=session, query="", tag="refused") == []
    assert repo.search(session=session, query="", rating=-1) == []

    repo.update_annotation(session=session, annotation_id=id_of(annotation.id), tags=[], rating=None, note="")
    with Session(engine) as fresh:
        [cleared] = repo.list_annotations(session=fresh, conversation_id=cid)
    assert (cleared.tags, cleared.rating, cleared.note) == ([], None, "")


def test_a_deleted_annotation_is_gone_from_lists_counts_and_search(
    engine: Engine, session: Session, reply: tuple[int, int]
) -> None:
    cid, message_id = reply
    kept = repo.add_annotation(session=session, message_id=message_id, note="keep the pelican")
    gone = repo.add_annotation(session=session, message_id=message_id, tags=["hallucinated"], note="drop the heron")
    [hit] = repo.search(session=session, query="heron")
    assert hit.annotation_count == 2

    repo.delete_annotation(session=session, annotation_id=id_of(gone.id))
    with Session(engine) as fresh:
        assert [a.id for a in repo.list_annotations(session=fresh, conversation_id=cid)] == [kept.id]
    assert _found(session, "heron") == []
    assert repo.search(session=session, query="", tag="hallucinated") == []
    [hit] = repo.search(session=session, query="pelican")
    assert hit.annotation_count == 1
    assert repo.list_messages(session=session, conversation_id=cid)[-1].id == message_id  # the reply stays
    with pytest.raises(repo.NotFound, match=f"annotation {gone.id} does not exist"):
        repo.delete_annotation(session=session, annotation_id=id_of(gone.id))


def test_edits_are_checked_like_new_annotations(session: Session, reply: tuple[int, int]) -> None:
    cid, message_id = reply
    annotation = repo.add_annotation(session=session, message_id=message_id, rating=1, note="fine")
    aid = id_of(annotation.id)
    with pytest.raises(repo.InvalidValue, match=r"not one of -1, 0, \+1"):
        repo.update_annotation(session=session, annotation_id=aid, tags=[], rating=9, note="")
    with pytest.raises(repo.InvalidValue, match="not a string"):
        repo.update_annotation(session=session, annotation_id=aid, tags="funny", rating=None, note="")
    with pytest.raises(repo.NotFound, match="annotation 4040 does not exist"):
        repo.update_annotation(session=session, annotation_id=4040, tags=[], rating=None, note="")
    [unchanged] = repo.list_annotations(session=session, conversation_id=cid)
    assert (unchanged.rating, unchanged.note) == (1, "fine")


def test_conversation_notes_are_saved_and_searchable(engine: Engine, session: Session, reply: tuple[int, int]) -> None:
    cid, _ = reply
    before = repo.get_conversation(session=session, conversation_id=cid).updated_at
    repo.set_notes(session=session, conversation_id=cid, notes="Compare the <b>otter</b>\nwith the mink")
    with Session(engine) as fresh:
        saved = repo.get_conversation(session=fresh, conversation_id=cid)
    assert saved.notes == "Compare the <b>otter</b>\nwith the mink"
    assert saved.updated_at == before  # notes, like titles, do not reorder the list
    [hit] = repo.search(session=session, query="otter mink")
    assert hit.conversation_id == cid and "**otter**" in hit.snippet
    assert repo.count_conversations(session=session, query="mink") == 1

    repo.set_notes(session=session, conversation_id=cid, notes="")
    assert _found(session, "otter") == []
    assert _found(session, "walruses") == [cid]  # the title is still indexed beside the empty notes
    with pytest.raises(repo.NotFound):
        repo.set_notes(session=session, conversation_id=999, notes="x")
