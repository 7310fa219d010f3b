# Search across transcripts: SQLite FTS5 over message text, annotation notes and conversation titles and
# notes (the index and its triggers are in migration 0002), with ILIKE where there is no index (PostgreSQL).

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict
from sqlalchemy import Integer, and_, bindparam, exists, func, literal, or_, select, text, union_all
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
# kind -> (FTS table, the table it indexes, that table's conversation id, the column snippet() cuts from:
# -1 lets FTS5 pick the conversation's title or notes).
_FTS_SOURCES = {
    0: ("fts_message", "message", "message.conversation_id", 0),
    1: ("fts_annotation", "annotation", "annotation.conversation_id", 0),
    2: ("fts_conversation", "conversation", "conversation.id", -1),
}
# kind -> (id, text) for the fallback's snippets
_PASSAGES: dict[int, tuple[Any, Any]] = {
    0: (Message.id, Message.content),
    1: (Annotation.id, Annotation.note),
    2: (Conversation.id, col(Conversation.title) + "\n" + col(Conversation.notes)),
}


def _fts_sql(columns: str, extra: str = "") -> str:
    """One SELECT per FTS table joined to the rows it indexes, UNION ALL; `columns` and `extra` may name
    {kind}, {fts}, {table}, {owner} (the conversation id) and {column} (for snippet())."""
    template = (
        f"SELECT {columns} FROM {{fts}} JOIN {{table}} ON {{table}}.id = {{fts}}.rowid"
        f" WHERE {{fts}} MATCH :query AND {{owner}} IS NOT NULL {extra}"
    )
    return " UNION ALL ".join(
        template.format(kind=kind, fts=fts, table=table, owner=owner, column=column)
        for kind, (fts, table, owner, column) in _FTS_SOURCES.items()
    )


# These statements are built once: parsing a text() statement's parameters costs as much as running it.
# The conversations that match: nothing is ranked or cut here, which would cost more than the search itself for
# a common word (bm25 for 80,000 matching messages takes 0.1 s). That is done for the page shown only.
_FTS_MATCHES = text(_fts_sql("{owner} AS conversation_id")).columns(conversation_id=Integer)
# The rowid range narrows what FTS5 reads to the page's rows (a common word otherwise costs the whole index again).
_FTS_PASSAGES = text(
    _fts_sql(
        "{owner}, {kind}, {fts}.rank, snippet({fts}, {column}, :mark, :mark, '…', :words)",
        "AND {fts}.rowid BETWEEN :low{kind} AND :high{kind} AND {owner} IN :ids",
    )
).bindparams(bindparam("ids", expanding=True))
_ROW_RANGES = text(
    " UNION ALL ".join(
        f"SELECT {kind}, min({table}.id), max({table}.id) FROM {table} WHERE {owner} IN :ids"
        for kind, (_, table, owner, _) in _FTS_SOURCES.items()
    )
).bindparams(bindparam("ids", expanding=True))
_HAS_FTS = text("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'fts_message'")


def _has_fts(session: Session) -> bool:
    if session.get_bind().dialect.name != "sqlite":
        return False
    return session.execute(_HAS_FTS).first() is not None


def _like(column: Any, term: str) -> ColumnElement[bool]:
    escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return col(column).ilike(f"%{escaped}%", escape="\\")


def _like_hits(terms: list[str], within: list[int] | None) -> Any:
    # Every word in the same row, like the FTS query; rank prefers the newest row. `within`: only these
    # conversations (None: all).
    def every(owner: Any, *columns: Any) -> ColumnElement[bool]:
        words = [or_(*(_like(c, term) for c in columns)) for term in terms]
        return and_(*words, col(owner).is_not(None), *([] if within is None else [col(owner).in_(within)]))

    messages: Any = select(
        col(Message.conversation_id).label("conversation_id"),
        literal(0).label("kind"),
        (-col(Message.id)).label("rank"),
        col(Message.id).label("row_id"),
    ).where(every(Message.conversation_id, Message.content))
    notes = select(col(Annotation.conversation_id), literal(1), -col(Annotation.id), col(Annotation.id)).where(
        every(Annotation.conversation_id, Annotation.note)
    )
    titles = select(col(Conversation.id), literal(2), -col(Conversation.id), col(Conversation.id)).where(
        every(Conversation.id, Conversation.title, Conversation.notes)
    )
    return union_all(messages, notes, titles).subquery("hits")


def _fts_passages(session: Session, match: str, conversation_ids: list[int]) -> dict[int, str]:
    """conversation id -> the snippet of its best passage (by kind, then bm25), marks around the matches.

    One query cuts a snippet from every match in these conversations: evaluating a prefix query again for
    each chosen row would cost more than the extra snippets.
    """
    params: dict[str, Any] = {"query": match, "ids": conversation_ids, "mark": MARK, "words": SNIPPET_WORDS}
    for kind, low, high in session.execute(_ROW_RANGES, params):
        params.update({f"low{kind}": low, f"high{kind}": high})
    best: dict[int, tuple[int, float, str]] = {}
    for cid, kind, rank, snippet in session.execute(_FTS_PASSAGES, params):
        if cid not in best or (kind, rank) < best[cid][:2]:
            best[cid] = (kind, rank, snippet)
    return {cid: snippet for cid, (_, _, snippet) in best.items()}


def _like_passages(session: Session, terms: list[str], conversation_ids: list[int]) -> dict[int, str]:
    """As _fts_passages, without an index: the newest matching passage, cut and marked here."""
    hits = _like_hits(terms, conversation_ids)
    best: dict[int, tuple[int, int, int]] = {}
    for cid, kind, rank, row_id in session.execute(select(hits)):
        if cid not in best or (kind, rank) < best[cid][:2]:
            best[cid] = (kind, rank, row_id)
    snippets: dict[int, str] = {}
    for kind in {kind for kind, _, _ in best.values()}:
        id_column, text_column = _PASSAGES[kind]
        wanted = {row_id: cid for cid, (k, _, row_id) in best.items() if k == kind}
        for row_id, passage in session.execute(select(id_column, text_column).where(col(id_column).in_(wanted))):
            snippets[wanted[row_id]] = _cut_snippet(passage, terms)
    return snippets


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


@dataclass(frozen=True)
class _Words:
    """A non-empty query, ready for the search index (match) or, without one, for LIKE (terms)."""

    terms: list[str]
    match: str | None

    def conversations(self) -> Any:
        """A subquery of the ids of the conversations that match (repeats possible)."""
        if self.match is None:
            return select(_like_hits(self.terms, None).c.conversation_id)
        return _FTS_MATCHES.bindparams(query=self.match)

    def snippets(self, session: Session, conversation_ids: list[int]) -> dict[int, str]:
        if self.match is None:
            return _like_passages(session, self.terms, conversation_ids)
        return _fts_passages(session, self.match, conversation_ids)


def _annotation_count(conversation_id: Any) -> Any:
    return (
        select(func.count())
        .select_from(Annotation)
        .where(col(Annotation.conversation_id) == conversation_id)
        .scalar_subquery()
    )


def _words(session: Session, query: str) -> _Words | None:
    """None when the query holds nothing the index could match."""
    terms = query.split()
    if not _has_fts(session):
        return _Words(terms, None)
    match = fts_query(query)
    return None if match is None else _Words(terms, match)


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
    words: _Words | None = None
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
