# Search across transcripts: SQLite FTS5 over message text, annotation notes and conversation titles and
# notes (the index and its triggers are in migration 0002), with ILIKE where there is no index (PostgreSQL).

import re
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict
from sqlalchemy import Float, Integer, and_, bindparam, exists, func, literal, or_, select, text, union_all
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, col

from storage.errors import InvalidValue
from storage.tables import Annotation, Conversation, Lane, Message

SearchSort = Literal["newest", "most_annotated"]
SEARCH_SORTS: tuple[SearchSort, ...] = ("newest", "most_annotated")

# Markdown bold: readable in a terminal, rendered by Streamlit.
MARK = "**"
SNIPPET_WORDS = 16
_FTS_PREFIX = "fts_"


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
    """The FTS tables and their shadow tables, which autogenerate must not try to drop."""
    return name is not None and name.startswith(_FTS_PREFIX)


def alembic_include_name(name: str | None, type_: str, parent_names: Any) -> bool:
    """For Alembic's include_name: compare every table but the search index."""
    return not (type_ == "table" and is_search_table(name))


def fts_query(query: str) -> str | None:
    """The user's words as an FTS5 query: every word must occur, each as a prefix (`cat` finds `cats`).

    Each word is quoted, so `"`, `*`, `-`, `:`, `NOT`, `OR` and `NEAR` are plain text, never syntax.
    None when no word holds a letter or digit (nothing the index could match).
    """
    # FTS5 reads the query as a C string: a NUL would end it inside a quoted word.
    terms = [term for term in query.replace("\x00", " ").split() if any(ch.isalnum() for ch in term)]
    if not terms:
        return None
    return " ".join('"' + term.replace('"', '""') + '"*' for term in terms)


# kind orders the passages a conversation's snippet is taken from: messages, then notes, then the title.
# Snippets are made afterwards for the page of results only: snippet() on every hit costs more than the search.
_FTS_HITS = """
SELECT message.conversation_id AS conversation_id, 0 AS kind, fts_message.rank AS rank, message.id AS row_id
FROM fts_message JOIN message ON message.id = fts_message.rowid
WHERE fts_message MATCH :query
UNION ALL
SELECT annotation.conversation_id, 1, fts_annotation.rank, annotation.id
FROM fts_annotation JOIN annotation ON annotation.id = fts_annotation.rowid
WHERE fts_annotation MATCH :query AND annotation.conversation_id IS NOT NULL
UNION ALL
SELECT fts_conversation.rowid, 2, fts_conversation.rank, fts_conversation.rowid
FROM fts_conversation
WHERE fts_conversation MATCH :query
"""
# kind -> (fts table, column for snippet(): -1 lets FTS5 pick title or notes)
_FTS_SNIPPETS = {0: ("fts_message", 0), 1: ("fts_annotation", 0), 2: ("fts_conversation", -1)}
# kind -> (id, text) for the fallback's snippets
_PASSAGES: dict[int, tuple[Any, Any]] = {
    0: (Message.id, Message.content),
    1: (Annotation.id, Annotation.note),
    2: (Conversation.id, col(Conversation.title) + "\n" + col(Conversation.notes)),
}


def _has_fts(session: Session) -> bool:
    if session.get_bind().dialect.name != "sqlite":
        return False
    found = session.execute(
        text("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'fts_message'")
    ).first()
    return found is not None


def _fts_hits(query: str) -> Any:
    return (
        text(_FTS_HITS)
        .bindparams(query=query)
        .columns(conversation_id=Integer, kind=Integer, rank=Float, row_id=Integer)
        .subquery("hits")
    )


def _like(column: Any, term: str) -> ColumnElement[bool]:
    escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return col(column).ilike(f"%{escaped}%", escape="\\")


def _like_hits(terms: list[str]) -> Any:
    # Every word in the same row, like the FTS query; rank prefers the newest row.
    def every(*columns: Any) -> ColumnElement[bool]:
        return and_(*(or_(*(_like(c, term) for c in columns)) for term in terms))

    messages: Any = select(
        col(Message.conversation_id).label("conversation_id"),
        literal(0).label("kind"),
        (-col(Message.id)).label("rank"),
        col(Message.id).label("row_id"),
    ).where(every(Message.content))
    notes = select(
        col(Annotation.conversation_id), literal(1), -col(Annotation.id), col(Annotation.id)
    ).where(every(Annotation.note), col(Annotation.conversation_id).is_not(None))
    titles = select(col(Conversation.id), literal(2), -col(Conversation.id), col(Conversation.id)).where(
        every(Conversation.title, Conversation.notes)
    )
    return union_all(messages, notes, titles).subquery("hits")


def _snippets(session: Session, wanted: list[tuple[int, int]], match: str | None, terms: list[str]) -> dict[Any, str]:
    """Snippets for (kind, row id) pairs: FTS5's snippet() when match is given, else cut from the text."""
    out: dict[Any, str] = {}
    for kind in {k for k, _ in wanted}:
        ids = [row_id for k, row_id in wanted if k == kind]
        if match is not None:
            table, column = _FTS_SNIPPETS[kind]
            statement = text(
                f"SELECT rowid, snippet({table}, {column}, :mark, :mark, '…', :words) FROM {table}"
                f" WHERE {table} MATCH :query AND rowid IN :ids"
            ).bindparams(bindparam("ids", expanding=True))
            params = {"mark": MARK, "words": SNIPPET_WORDS, "query": match, "ids": ids}
            rows: Any = session.execute(statement, params)
        else:
            id_column, text_column = _PASSAGES[kind]
            rows = session.execute(select(id_column, text_column).where(col(id_column).in_(ids)))
            rows = [(row_id, _cut_snippet(passage, terms)) for row_id, passage in rows]
        out.update(((kind, row_id), snippet) for row_id, snippet in rows)
    return out


def _cut_snippet(passage: str, terms: list[str]) -> str:
    """The fallback's snippet: about SNIPPET_WORDS words around the first match, matches marked."""
    folded = passage.casefold()
    starts = [i for i in (folded.find(t.casefold()) for t in terms) if i >= 0]
    words = [(m.start(), m.end()) for m in re.finditer(r"\S+", passage)]
    if not words:
        return ""
    first = min(starts, default=0)
    at = next((i for i, (start, end) in enumerate(words) if end > first), 0)
    lo = max(0, at - SNIPPET_WORDS // 2)
    hi = min(len(words), lo + SNIPPET_WORDS)
    cut = passage[words[lo][0] : words[hi - 1][1]]
    pattern = "|".join(re.escape(t) for t in sorted(terms, key=len, reverse=True))
    marked = re.sub(f"({pattern})", rf"{MARK}\1{MARK}", cut, flags=re.IGNORECASE) if pattern else cut
    return ("…" if lo > 0 else "") + marked.replace("\n", " ") + ("…" if hi < len(words) else "")


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
    _check_when("since", since)
    _check_when("until", until)

    annotation_count = (
        select(func.count())
        .select_from(Annotation)
        .where(col(Annotation.conversation_id) == Conversation.id)
        .correlate(Conversation)
        .scalar_subquery()
        .label("annotation_count")
    )
    base = (col(Conversation.id), col(Conversation.title), col(Conversation.updated_at), annotation_count)
    terms = query.split()
    match: str | None = None
    if not terms:
        statement = select(*base, literal(None).label("kind"), literal(None).label("row_id"))
    else:
        if _has_fts(session):
            match = fts_query(query)
            if match is None:
                return []
            hits = _fts_hits(match)
        else:
            hits = _like_hits(terms)
        order = func.row_number().over(partition_by=hits.c.conversation_id, order_by=(hits.c.kind, hits.c.rank))
        ranked = select(hits.c.conversation_id, hits.c.kind, hits.c.row_id, order.label("n")).subquery("ranked")
        best = select(ranked).where(ranked.c.n == 1).subquery("best")
        statement = select(*base, best.c.kind, best.c.row_id).join(best, best.c.conversation_id == Conversation.id)

    if tag is not None:
        statement = statement.where(_has_tag(session, tag))
    if rating is not None:
        statement = statement.where(
            exists().where(col(Annotation.conversation_id) == Conversation.id, col(Annotation.rating) == rating)
        )
    if model is not None:
        statement = statement.where(
            exists().where(col(Lane.conversation_id) == Conversation.id, col(Lane.model) == model)
        )
    if mask is not None:
        statement = statement.where(
            exists().where(col(Lane.conversation_id) == Conversation.id, col(Lane.mask_name) == mask)
        )
    if since is not None:
        statement = statement.where(col(Conversation.updated_at) >= since)
    if until is not None:
        statement = statement.where(col(Conversation.updated_at) < until)
    newest = (col(Conversation.updated_at).desc(), col(Conversation.id).desc())
    if sort == "most_annotated":
        statement = statement.order_by(annotation_count.desc(), *newest)
    else:
        statement = statement.order_by(*newest)
    rows = session.execute(statement.limit(limit).offset(offset)).all()
    wanted = [(row.kind, row.row_id) for row in rows if row.kind is not None]
    snippets = _snippets(session, wanted, match, terms) if wanted else {}
    return [
        SearchHit(
            conversation_id=row.id,
            title=row.title,
            snippet=snippets.get((row.kind, row.row_id), ""),
            updated_at=row.updated_at,
            annotation_count=row.annotation_count,
        )
        for row in rows
    ]


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
