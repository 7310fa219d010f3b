# What every search backend (FTS5, tsvector, LIKE) shares: how matches are marked in a snippet, and the two
# questions storage.search.query asks a backend about the user's words.

from typing import Any, Protocol

from sqlmodel import Session

# Markdown bold: readable in a terminal, rendered by Streamlit.
MARK = "**"
SNIPPET_WORDS = 16
# Every search object's name starts with this: FTS5 tables (SQLite), tsvector columns and their indexes (PostgreSQL).
SEARCH_PREFIX = "fts_"


class Words(Protocol):
    """A non-empty query, ready for one backend."""

    def conversations(self) -> Any:
        """A subquery of the ids of the conversations that match (repeats possible)."""
        ...

    def snippets(self, session: Session, conversation_ids: list[int]) -> dict[int, str]:
        """conversation id -> its best passage, matches wrapped in MARK: a message, else a note, else the title."""
        ...


def searchable_terms(query: str) -> list[str]:
    """The user's words that hold a letter or digit: the ones an index can match."""
    # FTS5 reads the query as a C string, and PostgreSQL text cannot hold NUL at all.
    return [term for term in query.replace("\x00", " ").split() if any(ch.isalnum() for ch in term)]
