# Search across transcripts: message text, annotation notes and conversation titles and notes, through SQLite's
# FTS5 (storage.search.fts5) or PostgreSQL's tsvector (storage.search.tsvector), LIKE where there is no index.

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict
from sqlalchemy import exists, func, select, text
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, col

from storage.errors import InvalidValue
from storage.search.fts5 import Fts5Words, has_fts5
from storage.search.fts5 import fts_query as fts_query
from storage.search.like import LikeWords
from storage.search.tsvector import tsvector_words
from storage.search.words import MARK as MARK
from storage.search.words import SEARCH_PREFIX, Words
from storage.tables import Annotation, Conversation, Lane

SearchSort = Literal["newest", "most_annotated"]
SEARCH_SORTS: tuple[SearchSort, ...] = ("newest", "most_annotated")


class SearchHit(BaseModel):
    """One conversation that matches, with the best matching passage."""

    model_config = ConfigDict(frozen=True)

    conversation_id: int
    title: str
    # A message passage first, else an annotation note, else the title; matches wrapped in MARK.
    # Empty when the search had no words (filters only).
    snippet: str
    updated_at: datetime
    annotation_count: int


class SearchFilters(BaseModel):
    """The values the search filters can take, for the Transcripts page's pickers."""

    model_config = ConfigDict(frozen=True)

    tags: list[str]
    models: list[str]
    masks: list[str]


def is_search_table(name: str | None) -> bool:
    """The search index's objects, which autogenerate must not try to drop: FTS5 tables and their shadow tables,
    PostgreSQL's tsvector columns and their indexes."""
    return name is not None and name.startswith(SEARCH_PREFIX)


def alembic_include_name(name: str | None, type_: str, parent_names: Any) -> bool:
    """For Alembic's include_name: compare everything but the search index."""
    return not (type_ in ("table", "column", "index") and is_search_table(name))


def _has_tag(session: Session, tag: str) -> ColumnElement[bool]:
    # Tags are a JSON list; each backend looks inside it its own way.
    if session.get_bind().dialect.name == "sqlite":
        sql = (
            "EXISTS (SELECT 1 FROM annotation AS tagged, json_each(tagged.tags) AS t"
            " WHERE tagged.conversation_id = conversation.id AND t.value = :tag)"
        )
    else:
        sql = (
            "EXISTS (SELECT 1 FROM annotation AS tagged WHERE tagged.conversation_id = conversation.id"
            " AND CAST(tagged.tags AS jsonb) @> jsonb_build_array(CAST(:tag AS text)))"
        )
    return text(sql).bindparams(tag=tag)  # type: ignore[return-value]


def _check_when(name: str, value: datetime | None) -> None:
    if value is not None and value.tzinfo is None:
        raise InvalidValue(f"{name} {value!r} has no time zone; pass an aware datetime (UTC)")


def _conditions(
    session: Session,
    *,
    tag: str | None,
    rating: int | None,
    model: str | None,
    mask: str | None,
    since: datetime | None,
    until: datetime | None,
) -> list[ColumnElement[bool]]:
    """The filters as WHERE conditions on `conversation`, shared by search and count_conversations.

    Raises InvalidValue for a naive since/until.
    """
    _check_when("since", since)
    _check_when("until", until)
    conditions: list[ColumnElement[bool]] = []
    if tag is not None:
        conditions.append(_has_tag(session, tag))
    if rating is not None:
        conditions.append(
            exists().where(col(Annotation.conversation_id) == Conversation.id, col(Annotation.rating) == rating)
        )
    if model is not None:
        conditions.append(exists().where(col(Lane.conversation_id) == Conversation.id, col(Lane.model) == model))
    if mask is not None:
        conditions.append(exists().where(col(Lane.conversation_id) == Conversation.id, col(Lane.mask_name) == mask))
    if since is not None:
        conditions.append(col(Conversation.updated_at) >= since)
    if until is not None:
        conditions.append(col(Conversation.updated_at) < until)
    return conditions


def _annotation_count(conversation_id: Any) -> Any:
    return (
        select(func.count())
        .select_from(Annotation)
        .where(col(Annotation.conversation_id) == conversation_id)
        .scalar_subquery()
    )


def _words(session: Session, query: str) -> Words | None:
    """The query for this database's index; None when it holds nothing the index could match."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return tsvector_words(session, query)
    if dialect != "sqlite" or not has_fts5(session):
        return LikeWords(query.split())
    match = fts_query(query)
    return None if match is None else Fts5Words(match)


def _page(conditions: list[ColumnElement[bool]], sort: SearchSort, limit: int, offset: int) -> Any:
    """The statement for one page of the conversations that pass `conditions`, in `sort` order, with id,
    title, updated_at and annotation_count."""
    most_annotated = sort == "most_annotated"
    newest = (col(Conversation.updated_at).desc(), col(Conversation.id).desc())
    order = (_annotation_count(Conversation.id).desc(), *newest) if most_annotated else newest
    page = (
        select(col(Conversation.id), col(Conversation.title), col(Conversation.updated_at))
        .where(*conditions)
        .order_by(*order)
        .limit(limit)
        .offset(offset)
        .subquery("page")
    )
    # Annotations are counted for the page's rows only; sorting by them has counted every match already.
    count = _annotation_count(page.c.id).label("annotation_count")
    page_newest = (page.c.updated_at.desc(), page.c.id.desc())
    return select(page, count).order_by(*((count.desc(), *page_newest) if most_annotated else page_newest))


def search(
    *,
    session: Session,
    query: str,
    limit: int = 20,
    offset: int = 0,
    tag: str | None = None,
    rating: int | None = None,
    model: str | None = None,
    mask: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    sort: SearchSort = "newest",
) -> list[SearchHit]:
    """Conversations whose messages, annotation notes, title or notes contain every word of `query`.

    Any text is a safe query: words are matched literally (as prefixes), never as FTS syntax. An empty
    query lists every conversation that passes the filters; a query of punctuation only matches nothing.
    Filters: an annotation in the conversation with `tag` / `rating`; a lane with `model` / mask name
    `mask`; updated_at in [since, until). sort: "newest" (updated_at) or "most_annotated".

    Raises InvalidValue for an unknown sort, a negative limit or offset, or a naive since/until.
    """
    if sort not in SEARCH_SORTS:
        raise InvalidValue(f"sort {sort!r} is not one of {', '.join(SEARCH_SORTS)}")
    if limit < 0 or offset < 0:
        raise InvalidValue(f"limit {limit} and offset {offset} must not be negative")
    conditions = _conditions(session, tag=tag, rating=rating, model=model, mask=mask, since=since, until=until)
    words: Words | None = None
    if query.split():
        words = _words(session, query)
        if words is None:
            return []
        conditions.append(col(Conversation.id).in_(words.conversations()))
    rows = session.execute(_page(conditions, sort, limit, offset)).all()
    snippets = words.snippets(session, [row.id for row in rows]) if words is not None and rows else {}
    return [
        SearchHit(
            conversation_id=row.id,
            title=row.title,
            snippet=snippets.get(row.id, ""),
            updated_at=row.updated_at,
            annotation_count=row.annotation_count,
        )
        for row in rows
    ]


def count_conversations(
    *,
    session: Session,
    query: str = "",
    tag: str | None = None,
    rating: int | None = None,
    model: str | None = None,
    mask: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> int:
    """How many conversations `search` with the same query and filters finds in all, for pagination.

    Raises InvalidValue for a naive since/until.
    """
    conditions = _conditions(session, tag=tag, rating=rating, model=model, mask=mask, since=since, until=until)
    if query.split():
        words = _words(session, query)
        if words is None:
            return 0
        conditions.append(col(Conversation.id).in_(words.conversations()))
    statement = select(func.count()).select_from(Conversation).where(*conditions)
    return int(session.execute(statement).scalar_one())


def search_filters(*, session: Session) -> SearchFilters:
    """Every tag, model and mask name in use, sorted, to offer as search filters."""
    tags: set[str] = set()
    for tag_list in session.execute(select(col(Annotation.tags))).scalars():
        tags.update(tag_list)
    models = session.execute(select(col(Lane.model)).distinct().order_by(col(Lane.model))).scalars()
    masks = session.execute(
        select(col(Lane.mask_name)).where(col(Lane.mask_name).is_not(None)).distinct().order_by(col(Lane.mask_name))
    ).scalars()
    return SearchFilters(tags=sorted(tags), models=list(models), masks=[m for m in masks if m is not None])
