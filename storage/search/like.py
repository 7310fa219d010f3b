# Search without an index (a SQLite built without FTS5, or words PostgreSQL's parser finds no lexeme in):
# every word as a case-insensitive substring, snippets cut here.

import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, literal, or_, select, union_all
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, col

from storage.search.words import MARK, SNIPPET_WORDS
from storage.tables import Annotation, Conversation, Message

# kind -> (id, text) for the snippets; kind orders passages: messages, then notes, then the title.
_PASSAGES: dict[int, tuple[Any, Any]] = {
    0: (Message.id, Message.content),
    1: (Annotation.id, Annotation.note),
    2: (Conversation.id, col(Conversation.title) + "\n" + col(Conversation.notes)),
}


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


def cut_snippet(passage: str, terms: list[str]) -> str:
    """About SNIPPET_WORDS words around the first match, matches marked."""
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


@dataclass(frozen=True)
class LikeWords:
    """The user's words for LIKE: each one must occur in the same row, as typed (case aside)."""

    terms: list[str]

    def conversations(self) -> Any:
        return select(_like_hits(self.terms, None).c.conversation_id)

    def snippets(self, session: Session, conversation_ids: list[int]) -> dict[int, str]:
        """The newest matching passage of each conversation, cut and marked here."""
        hits = _like_hits(self.terms, conversation_ids)
        best: dict[int, tuple[int, int, int]] = {}
        for cid, kind, rank, row_id in session.execute(select(hits)):
            if cid not in best or (kind, rank) < best[cid][:2]:
                best[cid] = (kind, rank, row_id)
        snippets: dict[int, str] = {}
        for kind in {kind for kind, _, _ in best.values()}:
            id_column, text_column = _PASSAGES[kind]
            wanted = {row_id: cid for cid, (k, _, row_id) in best.items() if k == kind}
            rows = session.execute(select(id_column, text_column).where(col(id_column).in_(wanted)))
            for row_id, passage in rows:
                snippets[wanted[row_id]] = cut_snippet(passage, self.terms)
        return snippets
