# Search on PostgreSQL: generated tsvector columns with GIN indexes (migration 0002) in the text search
# configuration `simulacra_search`, with the FTS5 search's semantics: every word, each as a prefix, quoted.

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Integer, bindparam, text
from sqlmodel import Session

from storage.search.like import LikeWords
from storage.search.words import MARK, SNIPPET_WORDS, Words, searchable_terms

CONFIG = "simulacra_search"  # created by migration 0002
_QUERY = f"to_tsquery('{CONFIG}', :tsquery)"

# (table, its conversation id, the text its fts_document is made of); the position is the passage's kind.
_SOURCES = (
    ("message", "conversation_id", "content"),
    ("annotation", "conversation_id", "note"),
    ("conversation", "id", "title || ' ' || notes"),
)

_MATCHES = text(
    " UNION ALL ".join(
        f"SELECT {owner} AS conversation_id FROM {table} WHERE fts_document @@ {_QUERY} AND {owner} IS NOT NULL"
        for table, owner, _ in _SOURCES
    )
).columns(conversation_id=Integer)

# Every match in the page's conversations is ranked, but only the best passage of each is cut: ts_headline
# parses its whole text again.
_HITS = " UNION ALL ".join(
    f"SELECT {owner} AS cid, {kind} AS kind, ts_rank(fts_document, query.q) AS rank, id AS row_id,"
    f" {document} AS passage FROM {table}, query WHERE {owner} IN :ids AND fts_document @@ query.q"
    for kind, (table, owner, document) in enumerate(_SOURCES)
)
_PASSAGES = text(
    f"WITH query AS (SELECT {_QUERY} AS q), hits AS ({_HITS}),"
    " best AS (SELECT DISTINCT ON (cid) cid, passage FROM hits ORDER BY cid, kind, rank DESC, row_id DESC)"
    f" SELECT cid, passage, ts_headline('{CONFIG}', passage, query.q, :options) FROM best, query"
).bindparams(bindparam("ids", expanding=True))
_OPTIONS = f'StartSel="{MARK}", StopSel="{MARK}", MaxWords={SNIPPET_WORDS}, MinWords={SNIPPET_WORDS // 2}, ShortWord=0'

# How many lexemes PostgreSQL's parser finds in each word: a word it finds none in cannot use the index.
_LEXEMES = text(f"SELECT numnode(to_tsquery('{CONFIG}', t)) FROM unnest(CAST(:terms AS text[])) AS t")


def _quoted(term: str) -> str:
    # Inside quotes a tsquery operand is plain text: `&`, `|`, `!`, `<->`, `:` and `*` are not syntax there.
    return "'" + term.replace("\\", "\\\\").replace("'", "''") + "'"


def tsquery(terms: list[str]) -> str:
    """The words as to_tsquery's input: each quoted and a prefix, all required (`'cat':* & 'sat':*`)."""
    return " & ".join(f"{_quoted(term)}:*" for term in terms)


def _framed(headline: str, passage: str) -> str:
    """The headline with '…' where it cuts the passage short, as FTS5's snippet() marks it."""
    plain = headline.replace(MARK, "")
    at = passage.find(plain)
    before = "…" if at > 0 and passage[:at].strip() else ""
    after = "…" if at >= 0 and passage[at + len(plain) :].strip() else ""
    return before + headline.replace("\n", " ") + after


@dataclass(frozen=True)
class TsvectorWords:
    """The user's words as a tsquery (`tsquery`)."""

    query: str

    def conversations(self) -> Any:
        return _MATCHES.bindparams(tsquery=self.query)

    def snippets(self, session: Session, conversation_ids: list[int]) -> dict[int, str]:
        """The best passage by kind, then ts_rank, then the newest."""
        params = {"tsquery": self.query, "ids": conversation_ids, "options": _OPTIONS}
        return {cid: _framed(headline, passage) for cid, passage, headline in session.execute(_PASSAGES, params)}


def tsvector_words(session: Session, query: str) -> Words | None:
    """None when no word holds a letter or digit; LIKE for words PostgreSQL's parser finds no lexeme in (rare
    symbols such as `²`), so every word a message says still finds it."""
    terms = searchable_terms(query)
    if not terms:
        return None
    lexemes = session.execute(_LEXEMES, {"terms": [_quoted(term) for term in terms]}).scalars().all()
    if 0 in lexemes:
        return LikeWords(terms)
    return TsvectorWords(tsquery(terms))
