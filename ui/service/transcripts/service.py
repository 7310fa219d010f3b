"""Saved conversations after the fact: find them, rename and note them, annotate replies, export and import.
Every function opens its own short session, so a front end never holds one."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path

from pydantic import ValidationError
from sqlalchemy.engine import Engine
from sqlmodel import Session

from personas.mask import Mask
from storage import imports, importscan, repo
from storage.annotations import REVIEWER_MAX_LENGTH, check_reviewer
from storage.imports import ExportFile, describe_problems
from storage.search.query import MARK, SearchSort
from storage.tables import RATINGS
from ui.service.read_models import Annotation, Conversation, ConversationSummary, SearchFilters, SearchHit
from ui.service.transcripts.exports import FORMATS, NO_PAIRS, NO_RATINGS, render

__all__ = ["MARK", "RATINGS", "REVIEWER_MAX_LENGTH", "Query", "SearchSort", "Transcripts", "check_reviewer"]


@dataclass(frozen=True)
class Query:
    """What a search asks for: words, and the filters."""

    query: str = ""
    tag: str | None = None
    rating: int | None = None
    model: str | None = None
    mask: str | None = None
    since: datetime | None = None
    until: datetime | None = None


class Transcripts:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # -- finding ----------------------------------------------------------------------------------------

    def recent(self, limit: int = 50, *, experiments: bool = True) -> list[ConversationSummary]:
        """Conversations with the most recent activity first; with `experiments` False, not the ones experiment
        runs made for their cells (those are reached from their run)."""
        with Session(self.engine) as session:
            return repo.list_conversations(session=session, limit=limit, experiments=experiments)

    def all_ids(self) -> list[int]:
        return [summary.id for summary in self.recent(limit=1_000_000)]

    def filters(self) -> SearchFilters:
        """The tags, models and masks in use: what the search filters offer."""
        with Session(self.engine) as session:
            return repo.search_filters(session=session)

    def search(self, query: Query, *, sort: SearchSort = "newest", limit: int = 20, offset: int = 0) -> list[SearchHit]:
        """Raises InvalidValue for an unknown sort or a rating outside -1, 0, +1."""
        _check_rating(query.rating)
        with Session(self.engine) as session:
            return repo.search(session=session, **asdict(query), sort=sort, limit=limit, offset=offset)

    def count(self, query: Query) -> int:
        _check_rating(query.rating)
        with Session(self.engine) as session:
            return repo.count_conversations(session=session, **asdict(query))

    # -- one conversation -------------------------------------------------------------------------------

    def conversation(self, conversation_id: int) -> Conversation:
        """Raises NotFound when there is no such conversation."""
        with Session(self.engine) as session:
            return repo.get_conversation(session=session, conversation_id=conversation_id)

    def rename(self, conversation_id: int, title: str) -> None:
        with Session(self.engine) as session:
            repo.set_title(session=session, conversation_id=conversation_id, title=title)

    def set_notes(self, conversation_id: int, notes: str) -> None:
        with Session(self.engine) as session:
            repo.set_notes(session=session, conversation_id=conversation_id, notes=notes)

    # -- annotations ------------------------------------------------------------------------------------

    def annotate(
        self,
        *,
        message_id: int | None,
        conversation_id: int | None = None,
        tags: Iterable[str] = (),
        rating: int | None = None,
        note: str = "",
        reviewer: str | None = None,
    ) -> Annotation:
        """Tag, rate (-1, 0 or +1) or note a reply, or the whole conversation when message_id is None, signed by
        `reviewer` (None: unsigned).

        Raises NotFound for unknown ids, InvalidValue for a rating outside -1, 0, +1 or a reviewer name that
        check_reviewer refuses.
        """
        with Session(self.engine) as session:
            return repo.add_annotation(
                session=session,
                message_id=message_id,
                conversation_id=conversation_id,
                tags=list(tags),
                rating=rating,
                note=note,
                reviewer=reviewer,
            )

    def update_annotation(
        self, annotation_id: int, *, tags: Iterable[str], rating: int | None, note: str, reviewer: str | None = None
    ) -> None:
        """The editing reviewer signs the annotation (see storage.annotations.update_annotation)."""
        with Session(self.engine) as session:
            repo.update_annotation(
                session=session,
                annotation_id=annotation_id,
                tags=list(tags),
                rating=rating,
                note=note,
                reviewer=reviewer,
            )

    def delete_annotation(self, annotation_id: int) -> None:
        with Session(self.engine) as session:
            repo.delete_annotation(session=session, annotation_id=annotation_id)

    # -- export and import ------------------------------------------------------------------------------

    def export(self, conversation_ids: list[int], fmt: str, *, as_list: bool = False) -> str:
        """The conversations in one export format (see ui.service.transcripts.exports).

        Raises NotFound for an unknown conversation, InvalidValue for an unknown format.
        """
        if fmt not in FORMATS:
            raise repo.InvalidValue(f"format {fmt!r} is not one of {', '.join(sorted(FORMATS))}")
        with Session(self.engine) as session:
            data = [repo.export_conversation(session=session, conversation_id=i) for i in conversation_ids]
        return render(data, fmt, as_list=as_list)

    def empty_because(self, conversation_ids: list[int], fmt: str) -> str | None:
        """Why the export of these conversations in `fmt` holds nothing, in one line for the user; None when it
        holds something. Only dpo: its pairs need ratings, which a conversation has not until someone rates.
        """
        if fmt != "dpo":
            return None
        with Session(self.engine) as session:
            # The ratings alone first: an unrated conversation (the usual case) is not exported to find out.
            annotations = [
                a for i in conversation_ids for a in repo.list_annotations(session=session, conversation_id=i)
            ]
        if not any(a.rating is not None and a.message_id is not None for a in annotations):
            return NO_RATINGS
        return None if self.export(conversation_ids, fmt) else NO_PAIRS

    @staticmethod
    def import_limits() -> tuple[int, int]:
        """The largest file an import reads, in MB, and the most rows (lanes, messages, annotations) it takes."""
        return max(1, imports.MAX_IMPORT_BYTES // (1024 * 1024)), importscan.MAX_IMPORT_ROWS

    def import_bytes(self, raw: bytes, name: str) -> int:
        """Check a json export completely, then save it as a new conversation; returns its id.

        Raises ImportError_ naming the file's problem; nothing is written then.
        """
        return self._import(repo.load_export_bytes(raw, name), name)

    def import_file(self, path: Path) -> int:
        """As import_bytes, reading the file (refused before reading when it is too large)."""
        return self._import(repo.load_export_file(path), str(path))

    def _import(self, export: ExportFile, source: str) -> int:
        _check_masks(export, source)
        with Session(self.engine) as session:
            return repo.import_conversation(session=session, data=export)


def _check_masks(export: ExportFile, source: str) -> None:
    """Every lane's mask snapshot reads as a Mask, as each of its turns will read it (ui.service.conversations.lanes).

    Storage checks the rest of the file but knows no masks. Raises ImportError_ naming the lane and field.
    """
    for i, lane in enumerate(export.lanes):
        snapshot = lane.mask_snapshot
        if not snapshot:  # None or {}: a lane without a mask, as lane_config reads it
            continue
        try:
            Mask.model_validate(snapshot)
        except ValidationError as e:
            named = {"lanes": [{"id": each.id} for each in export.lanes]}  # what names a lane in the message
            problems = describe_problems(e.errors(), named, at=("lanes", i, "mask_snapshot"))
            raise repo.ImportError_(f"{source}: not a valid conversation export: {problems}") from e


def _check_rating(rating: int | None) -> None:
    if rating is not None and rating not in RATINGS:
        raise repo.InvalidValue(f"rating {rating} is not one of -1, 0, +1")
