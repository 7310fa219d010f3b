# Search on SQLite: FTS5 indexes over message text, annotation notes and conversation titles and notes (the
# index and its triggers are in migration 0002).

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Integer, bindparam, text
from sqlmodel import Session

from storage.search.words import MARK, SNIPPET_WORDS, searchable_terms


def fts_query(query: str) -> str | None:
    """The user's words as an FTS5 query: every word must occur, each as a prefix (`cat` finds `cats`).

    Each word is quoted, so `"`, `*`, `-`, `:`, `NOT`, `OR` and `NEAR` are plain text, never syntax.
    None when no word holds a letter or digit (nothing the index could match).
    """
    terms = searchable_terms(query)
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


def has_fts5(session: Session) -> bool:
    """Whether this SQLite database has the FTS5 index (its SQLite was built with FTS5)."""
    return session.execute(_HAS_FTS).first() is not None


@dataclass(frozen=True)
class Fts5Words:
    """The user's words as an FTS5 query (`fts_query`)."""

    match: str

    def conversations(self) -> Any:
        return _FTS_MATCHES.bindparams(query=self.match)

    def snippets(self, session: Session, conversation_ids: list[int]) -> dict[int, str]:
        """The best passage by kind, then bm25.

        One query cuts a snippet from every match in these conversations: evaluating a prefix query again for
        each chosen row would cost more than the extra snippets.
        """
        params: dict[str, Any] = {"query": self.match, "ids": conversation_ids, "mark": MARK, "words": SNIPPET_WORDS}
        for kind, low, high in session.execute(_ROW_RANGES, params):
            params.update({f"low{kind}": low, f"high{kind}": high})
        best: dict[int, tuple[int, float, str]] = {}
        for cid, kind, rank, snippet in session.execute(_FTS_PASSAGES, params):
            if cid not in best or (kind, rank) < best[cid][:2]:
                best[cid] = (kind, rank, snippet)
        return {cid: snippet for cid, (_, _, snippet) in best.items()}
