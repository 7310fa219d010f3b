# Full-text search on a real migrated database (SQLite's FTS5 and PostgreSQL's tsvector alike): what it finds, its
# filters, hostile queries, and the index staying exactly in step with the rows while replies stream.

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from alembic import command
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, text
from sqlmodel import Session

from storage import repo
from storage.db import alembic_config
from storage.search.query import fts_query
from storage.tables import Lane
from tests.support.factories import examples, id_of

HOSTILE = [
    '"',
    '""',
    "*",
    "NOT",
    "OR",
    "AND",
    "NEAR",
    "a:b",
    "-x",
    "x -y",
    "(",
    ")",
    "^",
    "col:x",
    "'",
    "\\",
    "%",
    "_",
    "a*b",
    '"unbalanced',
    "NEAR(a b)",
    "title:hello",
    "+",
    "{a b}",
    "a OR",
    ":",
    "-",
]


def _reply(session: Session, cid: int, lane_id: int, parent_id: int, content: str) -> int:
    reply = repo.start_reply(session=session, conversation_id=cid, lane_id=lane_id, parent_id=parent_id, prompt="")
    repo.finish_reply(
        session=session,
        message_id=id_of(reply.id),
        content=content,
        tokens=None,
        status="complete",
        finish_reason="stop",
        error=None,
        ttft_ms=None,
        total_ms=None,
        tokens_per_s=None,
    )
    return id_of(reply.id)


def _conversation(
    session: Session, make_lane: Callable[..., Lane], title: str, question: str, answer: str, **lane: object
) -> tuple[int, int]:
    """A conversation with one lane, one question and one answer; returns (conversation id, reply id)."""
    cid = id_of(repo.create_conversation(session=session, title=title).id)
    lane_id = id_of(make_lane(cid, 0, **lane).id)
    user = repo.add_user_message(session=session, conversation_id=cid, parent_id=None, content=question)
    return cid, _reply(session, cid, lane_id, id_of(user.id), answer)


def _ids(hits: list[repo.SearchHit]) -> list[int]:
    return [hit.conversation_id for hit in hits]


def test_finds_words_in_replies_notes_and_titles(session: Session, make_lane: Callable[..., Lane]) -> None:
    story, reply = _conversation(session, make_lane, "Bedtime", "Tell me a story", "Once upon a time, a dragon slept.")
    titled, _ = _conversation(session, make_lane, "Aardvark facts", "Hi", "Hello")
    noted, noted_reply = _conversation(session, make_lane, "Plain", "Hi", "Hello")
    repo.add_annotation(session=session, message_id=noted_reply, note="the simulacrum broke character")
    repo.add_annotation(session=session, message_id=reply, tags=["fiction"], rating=1)

    [hit] = repo.search(session=session, query="dragon")
    assert hit.conversation_id == story and hit.title == "Bedtime" and hit.annotation_count == 1
    assert "**dragon**" in hit.snippet and hit.updated_at.tzinfo == UTC
    assert _ids(repo.search(session=session, query="aardvark")) == [titled]
    [noted_hit] = repo.search(session=session, query="broke character")
    assert noted_hit.conversation_id == noted and "**broke** **character**" in noted_hit.snippet
    assert _ids(repo.search(session=session, query="story")) == [story]  # the user's own words too
    assert _ids(repo.search(session=session, query="drag")) == [story]  # words match as prefixes
    assert _ids(repo.search(session=session, query="DRAGON Once")) == [story]  # every word, any case
    assert repo.search(session=session, query="dragon aardvark") == []
    assert _ids(repo.search(session=session, query="hello")) == [noted, titled]  # newest first


def test_accents_and_non_latin_text(session: Session, make_lane: Callable[..., Lane]) -> None:
    cid, _ = _conversation(session, make_lane, "Café", "Где дракон?", "Der Drache schläft. 龍")
    assert _ids(repo.search(session=session, query="cafe")) == [cid]
    assert _ids(repo.search(session=session, query="дракон")) == [cid]
    assert _ids(repo.search(session=session, query="schlaft")) == [cid]
    assert _ids(repo.search(session=session, query="龍")) == [cid]


def test_filters_and_sorting(session: Session, make_lane: Callable[..., Lane]) -> None:
    masked, masked_reply = _conversation(
        session, make_lane, "one", "Hi", "hello from the mask", model="gemma-3-270m", mask_name="assistant"
    )
    chat, chat_reply = _conversation(session, make_lane, "two", "Hi", "hello from chat", model="openai/gpt-4o-mini")
    plain, _ = _conversation(session, make_lane, "three", "Hi", "hello again", model="gemma-3-270m")
    repo.add_annotation(session=session, message_id=masked_reply, tags=["funny", "short"], rating=1)
    repo.add_annotation(session=session, message_id=chat_reply, tags=["short"], rating=-1)
    repo.add_annotation(session=session, conversation_id=chat, note="compare with one")

    def found(**filters: object) -> list[int]:
        hits = _ids(repo.search(session=session, query="hello", **filters))  # type: ignore[arg-type]
        if not {"limit", "offset", "sort"} & set(filters):  # the pagination total agrees with every filter
            assert repo.count_conversations(session=session, query="hello", **filters) == len(hits)  # type: ignore[arg-type]
        return hits

    assert found() == [plain, chat, masked]
    assert found(tag="funny") == [masked]
    assert found(tag="short") == [chat, masked]
    assert found(tag="fun") == []  # a whole tag, not a prefix
    assert found(rating=1) == [masked] and found(rating=-1) == [chat] and found(rating=5) == []
    assert found(model="gemma-3-270m") == [plain, masked] and found(model="openai/gpt-4o-mini") == [chat]
    assert found(mask="assistant") == [masked] and found(mask="pirate") == []
    assert found(tag="short", model="gemma-3-270m") == [masked]
    assert found(sort="most_annotated") == [chat, masked, plain]
    assert [h.annotation_count for h in repo.search(session=session, query="", sort="most_annotated")] == [2, 1, 0]
    assert found(limit=1, offset=1) == [chat]

    updated = {h.conversation_id: h.updated_at for h in repo.search(session=session, query="")}
    assert found(since=updated[chat]) == [plain, chat]
    assert found(until=updated[chat]) == [masked]
    assert found(since=updated[masked], until=updated[plain] + timedelta(microseconds=1)) == [plain, chat, masked]

    # An empty query lists by the filters alone, with no snippet.
    listed = repo.search(session=session, query="  ", tag="short")
    assert _ids(listed) == [chat, masked] and all(h.snippet == "" for h in listed)


def test_count_is_the_total_behind_the_pages(session: Session, make_lane: Callable[..., Lane]) -> None:
    ids = [_conversation(session, make_lane, f"walk {n}", "Hi", f"penguin number {n}")[0] for n in range(7)]
    other, _ = _conversation(session, make_lane, "other", "Hi", "a seal", model="m2")
    pages = [_ids(repo.search(session=session, query="penguin", limit=3, offset=k)) for k in (0, 3, 6)]
    assert pages == [ids[:3:-1], ids[3:0:-1], ids[:1]]
    assert repo.count_conversations(session=session, query="penguin") == 7
    assert repo.count_conversations(session=session, query="") == 8
    assert repo.count_conversations(session=session, query="", model="m2") == 1
    assert repo.count_conversations(session=session, query="penguin seal") == 0
    assert repo.count_conversations(session=session, query=" * - ") == 0  # nothing searchable
    assert (
        repo.count_conversations(
            session=session, query="", since=repo.get_conversation(session=session, conversation_id=other).updated_at
        )
        == 1
    )
    # A conversation found through several messages, notes and its title still counts once.
    repo.set_title(session=session, conversation_id=ids[0], title="penguin parade")
    repo.set_notes(session=session, conversation_id=ids[0], notes="penguin notes")
    repo.add_annotation(session=session, conversation_id=ids[0], note="penguin again")
    assert repo.count_conversations(session=session, query="penguin") == 7
    with pytest.raises(repo.InvalidValue, match="no time zone"):
        repo.count_conversations(session=session, query="x", until=datetime(2026, 1, 1))


def test_filters_are_checked(session: Session) -> None:
    with pytest.raises(repo.InvalidValue, match="sort 'best'"):
        repo.search(session=session, query="x", sort="best")  # type: ignore[arg-type]
    with pytest.raises(repo.InvalidValue, match="no time zone"):
        repo.search(session=session, query="x", since=datetime(2026, 1, 1))
    with pytest.raises(repo.InvalidValue, match="must not be negative"):
        repo.search(session=session, query="x", limit=-1)


@pytest.mark.parametrize("query", HOSTILE)
def test_hostile_queries_do_not_raise(session: Session, make_lane: Callable[..., Lane], query: str) -> None:
    cid, _ = _conversation(session, make_lane, "t", "a:b and -x, NOT here", "col:x OR title:hello (a b)")
    hits = repo.search(session=session, query=query)
    assert _ids(hits) in ([], [cid])


def test_hostile_queries_still_find_their_words(session: Session, make_lane: Callable[..., Lane]) -> None:
    cid, _ = _conversation(session, make_lane, "t", "a:b and -x, NOT here", "col:x OR title:hello")
    for query in ("a:b", "-x", "NOT", "OR", "title:hello", '"here"', "here*"):
        assert _ids(repo.search(session=session, query=query)) == [cid], query
    assert repo.search(session=session, query="*") == []  # nothing searchable in it


def test_fts_query_quotes_every_word() -> None:
    assert fts_query('say "hi" NOT -x') == '"say"* """hi"""* "NOT"* "-x"*'
    assert fts_query(" * - : ") is None


@settings(max_examples=examples(50), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(query=st.text(max_size=30))
def test_any_text_is_a_safe_query_and_finds_the_message_that_says_it(session: Session, query: str) -> None:
    # Whatever a user types, as a message and then as the search: the search answers (never raises), and it
    # finds that message's conversation, unless the text is only punctuation, which matches nothing.
    cid = id_of(repo.create_conversation(session=session).id)
    repo.add_user_message(session=session, conversation_id=cid, parent_id=None, content=query)

    found = _ids(repo.search(session=session, query=query, limit=1000))

    if query.split() and not any(ch.isalnum() for ch in query):
        assert found == [], query
    else:
        assert cid in found, query


def test_streaming_reply_is_searchable_as_it_grows(session: Session, make_lane: Callable[..., Lane]) -> None:
    cid = id_of(repo.create_conversation(session=session).id)
    lane_id = id_of(make_lane(cid, 0).id)
    user = repo.add_user_message(session=session, conversation_id=cid, parent_id=None, content="Go on")
    reply = repo.start_reply(session=session, conversation_id=cid, lane_id=lane_id, parent_id=user.id, prompt="")
    repo.update_reply(session=session, message_id=id_of(reply.id), content="The walrus", tokens=None)
    assert _ids(repo.search(session=session, query="walrus")) == [cid]
    repo.update_reply(session=session, message_id=id_of(reply.id), content="The narwhal", tokens=None)
    assert repo.search(session=session, query="walrus") == []
    assert _ids(repo.search(session=session, query="narwhal")) == [cid]
    repo.set_title(session=session, conversation_id=cid, title="Sea creatures")
    assert _ids(repo.search(session=session, query="creatures")) == [cid]


def _index(engine: Engine) -> dict[str, list[tuple[object, ...]]]:
    """Every (term, row, column, offset) in each FTS index: equal only when the index matches the rows."""
    out: dict[str, list[tuple[object, ...]]] = {}
    with engine.connect() as connection:
        for table in ("fts_message", "fts_annotation", "fts_conversation"):
            connection.exec_driver_sql(
                f"CREATE VIRTUAL TABLE IF NOT EXISTS temp.v_{table} USING fts5vocab(main, {table}, instance)"
            )  # noqa: E501
            rows = connection.exec_driver_sql(f"SELECT * FROM temp.v_{table} ORDER BY 1, 2, 3, 4").all()
            out[table] = [tuple(row) for row in rows]
    return out


@pytest.mark.sqlite_only
def test_index_matches_a_rebuild_after_streaming_edits_and_deletes(
    engine: Engine, session: Session, make_lane: Callable[..., Lane]
) -> None:
    kept, _ = _conversation(session, make_lane, "kept title", "question kept", "answer kept")
    gone, _ = _conversation(session, make_lane, "gone title", "question gone", "answer gone")
    lane_id = id_of(make_lane(kept, 1).id)
    user = repo.add_user_message(session=session, conversation_id=kept, parent_id=None, content="stream please")
    reply = repo.start_reply(session=session, conversation_id=kept, lane_id=lane_id, parent_id=user.id, prompt="")
    words = "the quick brown fox jumps over the lazy dog again and again".split()
    for n in range(1, len(words) + 1):
        repo.update_reply(session=session, message_id=id_of(reply.id), content=" ".join(words[:n]), tokens=None)
    repo.finish_reply(
        session=session,
        message_id=id_of(reply.id),
        content="the quick brown fox",
        tokens=None,
        status="complete",
        finish_reason="stop",
        error=None,
        ttft_ms=None,
        total_ms=None,
        tokens_per_s=None,
    )
    note = repo.add_annotation(session=session, message_id=reply.id, note="first note")
    dropped = repo.add_annotation(session=session, conversation_id=kept, note="dropped remark")
    repo.set_title(session=session, conversation_id=kept, title="renamed title")
    repo.update_annotation(session=session, annotation_id=id_of(note.id), tags=["x"], rating=None, note="second note")
    repo.delete_annotation(session=session, annotation_id=id_of(dropped.id))
    repo.set_notes(session=session, conversation_id=kept, notes="some notes")
    with engine.begin() as connection:  # no API deletes conversations yet; the triggers must cope anyway
        connection.execute(text("DELETE FROM conversation WHERE id = :id"), {"id": gone})  # cascades

    live = _index(engine)
    with engine.begin() as connection:
        for table in live:
            connection.exec_driver_sql(f"INSERT INTO {table}({table}) VALUES ('rebuild')")
    assert live == _index(engine)
    assert repo.search(session=session, query="gone") == []
    assert _ids(repo.search(session=session, query="second note")) == [kept]
    assert repo.search(session=session, query="first") == repo.search(session=session, query="dropped") == []
    assert _ids(repo.search(session=session, query="some notes")) == [kept]
    assert _ids(repo.search(session=session, query="renamed")) == [kept]
    assert repo.search(session=session, query="lazy") == []


def test_rows_from_before_the_migration_are_indexed(engine: Engine, session: Session) -> None:
    config = alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0001")
    # Plain SQL: the tables as they were at 0001 lack the columns later revisions added to the models.
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO conversation (id, title, notes, created_at, updated_at)"
                " VALUES (1, 'old transcript', '', '2026-01-01', '2026-01-01')"
            )
        )
        connection.execute(
            text(
                "INSERT INTO message (conversation_id, role, content, status, created_at)"
                " VALUES (1, 'user', 'an ancient question', 'complete', '2026-01-01')"
            )
        )
    cid = 1
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
    assert _ids(repo.search(session=session, query="ancient")) == [cid]
    assert _ids(repo.search(session=session, query="transcript")) == [cid]


@pytest.mark.sqlite_only
def test_without_an_index_search_falls_back_to_like(
    engine: Engine, session: Session, make_lane: Callable[..., Lane]
) -> None:
    # What a SQLite without FTS5 runs: a database without the search index.
    _drop_fts5(engine)
    cid, reply = _conversation(session, make_lane, "Bedtime", "Tell me a story", "Once upon a time, a dragon slept.")
    other, _ = _conversation(session, make_lane, "100% sure", "Hi", "Hello", model="other")
    repo.add_annotation(session=session, message_id=reply, tags=["fiction"], note="nice_one")
    [hit] = repo.search(session=session, query="DRAGON once")
    assert hit.conversation_id == cid and "**dragon**" in hit.snippet and hit.annotation_count == 1
    assert _ids(repo.search(session=session, query="100%")) == [other]
    assert repo.search(session=session, query="100_") == []  # LIKE wildcards are escaped
    assert _ids(repo.search(session=session, query="nice_one")) == [cid]
    assert _ids(repo.search(session=session, query="hello", model="other")) == [other]
    assert _ids(repo.search(session=session, query="", tag="fiction")) == [cid]
    assert repo.count_conversations(session=session, query="") == 2
    assert repo.count_conversations(session=session, query="hello", model="other") == 1
    assert repo.count_conversations(session=session, query="dragon", model="other") == 0
    for query in HOSTILE:
        assert repo.count_conversations(session=session, query=query) == len(repo.search(session=session, query=query))


def test_search_filters_lists_what_is_in_use(session: Session, make_lane: Callable[..., Lane]) -> None:
    _, reply = _conversation(session, make_lane, "a", "Hi", "Hello", model="m2", mask_name="pirate")
    _conversation(session, make_lane, "b", "Hi", "Hello", model="m1")
    repo.add_annotation(session=session, message_id=reply, tags=["b-tag", "a-tag"])
    filters = repo.search_filters(session=session)
    assert (filters.tags, filters.models, filters.masks) == (["a-tag", "b-tag"], ["m1", "m2"], ["pirate"])


def _drop_fts5(engine: Engine) -> None:
    with engine.begin() as connection:
        for table in ("fts_message", "fts_annotation", "fts_conversation"):
            for suffix in ("ai", "ad", "au"):
                connection.execute(text(f"DROP TRIGGER {table}_{suffix}"))
            connection.execute(text(f"DROP TABLE {table}"))


def test_every_hit_on_every_page_has_its_best_passage(session: Session, make_lane: Callable[..., Lane]) -> None:
    _every_hit_has_its_best_passage(session, make_lane)


@pytest.mark.sqlite_only
def test_without_an_index_every_hit_has_its_best_passage(
    engine: Engine, session: Session, make_lane: Callable[..., Lane]
) -> None:
    _drop_fts5(engine)
    _every_hit_has_its_best_passage(session, make_lane)


def _every_hit_has_its_best_passage(session: Session, make_lane: Callable[..., Lane]) -> None:
    # Conversations whose rows are far apart, the word in a reply, only in a note or only in the title; the
    # snippet comes from a message first, then a note, then the title, whatever the page and sort.
    where: dict[int, str] = {}
    for n in range(24):
        kind = ("reply", "note", "title")[n % 3]  # where the best passage is; the later kinds match too
        answer = f"a grey heron number {n} stood still" if kind == "reply" else f"nothing to see {n}"
        cid, reply = _conversation(session, make_lane, f"heron watch {n}", f"question {n}", answer)
        if kind != "title":
            repo.add_annotation(session=session, message_id=reply, note=f"a heron in the note {n}")
        for _ in range(n % 4):
            repo.add_annotation(session=session, conversation_id=cid, tags=["x"])
        where[cid] = kind
    seen: list[int] = []
    for sort in ("newest", "most_annotated"):
        for offset in (0, 10, 20):
            for hit in repo.search(session=session, query="heron", limit=10, offset=offset, sort=sort):  # type: ignore[arg-type]
                expected = {
                    "reply": "grey **heron** number",
                    "note": "a **heron** in the note",
                    "title": "**heron** watch",
                }[where[hit.conversation_id]]
                assert expected in hit.snippet, (where[hit.conversation_id], hit.snippet)
                seen.append(hit.conversation_id)
    assert sorted(seen) == sorted([*where, *where])  # every conversation once per sort
