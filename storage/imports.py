# The conversation file format (what repo.export_conversation writes) as pydantic models, the checks
# that run before anything is written, and the import itself: a new conversation in one transaction.

import heapq
import json
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError
from sqlmodel import Session

from storage.bulk import paused_gc
from storage.errors import ImportError_
from storage.tables import Annotation, Conversation, Lane, LaneKind, Message, MessageStatus, Role, utcnow

EXPORT_FORMAT = "simulacra.conversation"
EXPORT_VERSION = 1
MAX_IMPORT_BYTES = 200 * 1024 * 1024


class _Row(BaseModel):
    # Unknown keys are refused and named: they are typos or a file from another tool.
    model_config = ConfigDict(extra="forbid")


class ConversationRow(_Row):
    id: int
    title: str = ""
    notes: str = ""
    created_at: AwareDatetime | None = None
    updated_at: AwareDatetime | None = None


class LaneRow(_Row):
    id: int
    conversation_id: int
    position: int
    label: str
    kind: LaneKind
    model: str
    mask_name: str | None = None
    mask_snapshot: dict[str, Any] | None = None
    system_prompt: str | None = None
    temperature: float
    top_p: float
    top_k: int
    max_tokens: int
    seed: int | None = None
    stop: list[str] = Field(default_factory=list)
    created_at: AwareDatetime | None = None


class MessageRow(_Row):
    id: int
    conversation_id: int
    lane_id: int | None = None
    parent_id: int | None = None
    role: Role
    content: str = ""
    status: MessageStatus = "complete"
    error: str | None = None
    finish_reason: str | None = None
    tokens: list[Any] | None = None
    prompt: str | list[Any] | None = None
    ttft_ms: float | None = None
    total_ms: float | None = None
    tokens_per_s: float | None = None
    seed: int | None = None
    model_sha256: str | None = None
    metrics: dict[str, Any] | None = None
    settings: dict[str, Any] | None = None
    diverged_from_id: int | None = None
    diverged_at: int | None = Field(default=None, ge=0)
    created_at: AwareDatetime | None = None


class AnnotationRow(_Row):
    id: int
    message_id: int | None = None
    conversation_id: int | None = None
    tags: list[str] = Field(default_factory=list)
    rating: int | None = Field(default=None, ge=-1, le=1)
    note: str = ""
    created_at: AwareDatetime | None = None


class ExportFile(_Row):
    """One conversation with its lanes, message tree and annotations, ids as they were in the database."""

    format: Literal["simulacra.conversation"]
    version: Literal[1]
    conversation: ConversationRow
    lanes: list[LaneRow] = Field(default_factory=list)
    messages: list[MessageRow] = Field(default_factory=list)
    annotations: list[AnnotationRow] = Field(default_factory=list)


def _describe(error: ValidationError, data: dict[str, Any], limit: int = 3) -> str:
    problems = []
    for item in error.errors()[:limit]:
        loc = item["loc"]
        where = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in loc).lstrip(".")
        if len(loc) > 2 and isinstance(loc[1], int):  # name the row by its id too: messages[3] (id 17).role
            rows = data.get(str(loc[0]))
            row = rows[loc[1]] if isinstance(rows, list) and loc[1] < len(rows) else None
            if isinstance(row, dict) and "id" in row:
                where = f"{loc[0]}[{loc[1]}] (id {row['id']!r:.20})" + where[len(f"{loc[0]}[{loc[1]}]") :]
        got = "" if item["type"] in ("missing", "extra_forbidden") else f", got {item['input']!r:.60}"
        problems.append(f"{where or 'file'}: {item['msg']}{got}")
    more = error.error_count() - limit
    return "; ".join(problems) + (f" (and {more} more problems)" if more > 0 else "")


def _check_duplicates(kind: str, ids: list[int]) -> None:
    seen: set[int] = set()
    for row_id in ids:
        if row_id in seen:
            raise ImportError_(f"duplicate {kind} id {row_id}")
        seen.add(row_id)


def _check_tree(export: ExportFile) -> None:
    cid = export.conversation.id
    lanes = {lane.id for lane in export.lanes}
    messages = {m.id: m for m in export.messages}
    for lane in export.lanes:
        if lane.conversation_id != cid:
            raise ImportError_(f"lane {lane.id} belongs to conversation {lane.conversation_id}, not {cid}")
    for m in export.messages:
        if m.conversation_id != cid:
            raise ImportError_(f"message {m.id} belongs to conversation {m.conversation_id}, not {cid}")
        if m.role == "user" and m.lane_id is not None:
            raise ImportError_(f"message {m.id} is a user message but has lane_id {m.lane_id}")
        if m.role == "model" and m.lane_id is None:
            raise ImportError_(f"message {m.id} is a reply without a lane_id")
        if m.lane_id is not None and m.lane_id not in lanes:
            raise ImportError_(f"message {m.id} is a reply from lane {m.lane_id}, which is not in the file")
        if m.diverged_from_id is not None and m.diverged_from_id not in messages:
            raise ImportError_(f"message {m.id} diverged from message {m.diverged_from_id}, which is not in the file")
        if m.parent_id is None:
            continue
        parent = messages.get(m.parent_id)
        if parent is None:
            raise ImportError_(f"message {m.id} has parent_id {m.parent_id}, which is not a message in the file")
        if parent.role != "user":
            raise ImportError_(f"message {m.id} has parent {m.parent_id}, a reply; parents are user messages")
    # Follow each chain of parents once; meeting the chain being walked again is a cycle.
    done: set[int] = set()
    for m in export.messages:
        chain: list[int] = []
        current: int | None = m.id
        while current is not None and current not in done:
            if current in chain:
                loop = chain[chain.index(current) :] + [current]
                raise ImportError_(f"messages {' -> '.join(map(str, loop))} form a parent_id cycle")
            chain.append(current)
            current = messages[current].parent_id
        done.update(chain)
    for a in export.annotations:
        if a.message_id is None and a.conversation_id is None:
            raise ImportError_(f"annotation {a.id} has neither a message_id nor a conversation_id")
        if a.message_id is not None and a.message_id not in messages:
            raise ImportError_(f"annotation {a.id} is on message {a.message_id}, which is not in the file")
        if a.conversation_id is not None and a.conversation_id != cid:
            raise ImportError_(f"annotation {a.id} belongs to conversation {a.conversation_id}, not {cid}")


def validate_export(data: Any) -> ExportFile:
    """Check a decoded export completely: format, version, fields, ids and the message tree.

    Raises ImportError_ naming the first problem.
    """
    if not isinstance(data, dict):
        raise ImportError_(f"expected a JSON object (a Simulacra conversation export), got a {type(data).__name__}")
    if data.get("format") != EXPORT_FORMAT:
        raise ImportError_(
            f"not a Simulacra conversation export: format is {data.get('format')!r:.60}, expected {EXPORT_FORMAT!r}"
        )
    if data.get("version") != EXPORT_VERSION:
        raise ImportError_(
            f"export version {data.get('version')!r:.20} is not supported; "
            f"this Simulacra reads version {EXPORT_VERSION}"
        )
    try:
        with paused_gc():  # a row object for every message and annotation; see storage.bulk
            export = ExportFile.model_validate(data)
    except ValidationError as e:
        raise ImportError_(f"not a valid conversation export: {_describe(e, data)}") from e
    _check_duplicates("lane", [lane.id for lane in export.lanes])
    _check_duplicates("message", [m.id for m in export.messages])
    _check_duplicates("annotation", [a.id for a in export.annotations])
    _check_tree(export)
    return export


def _check_size(source: str, size: int) -> None:
    if size > MAX_IMPORT_BYTES:
        limit = MAX_IMPORT_BYTES // 1024 // 1024
        raise ImportError_(f"{source} is {size / 1024 / 1024:.0f} MB; imports are limited to {limit} MB")


def _decode(raw: bytes, source: str) -> dict[str, Any]:
    """Parse and fully check an export's bytes; every error message starts with `source`."""
    if not raw.strip():
        raise ImportError_(f"{source} is empty")
    try:
        with paused_gc():
            data = json.loads(raw)
    except json.JSONDecodeError as e:
        ends_early = e.pos >= len(e.doc.rstrip()) or e.msg.startswith("Unterminated string")
        truncated = "; the file ends early: is it truncated?" if ends_early else ""
        raise ImportError_(f"{source} is not valid JSON: {e.msg} (line {e.lineno}, column {e.colno}){truncated}") from e
    except UnicodeDecodeError as e:
        raise ImportError_(f"{source} is not UTF-8 text: {e.reason} at byte {e.start}") from e
    try:
        validate_export(data)
    except ImportError_ as e:
        raise ImportError_(f"{source}: {e}") from e
    return data  # type: ignore[no-any-return]


def load_export_file(path: Path | str) -> dict[str, Any]:
    """Read and fully check a conversation export file before anything is written.

    Raises ImportError_ naming the problem: a missing or unreadable file, one over 200 MB (checked
    before reading), malformed or truncated JSON, or any problem validate_export finds.
    """
    path = Path(path)
    try:
        _check_size(str(path), path.stat().st_size)  # before reading: the file may be huge
        raw = path.read_bytes()
    except OSError as e:
        raise ImportError_(f"cannot read {path}: {e.strerror or e}") from e
    return _decode(raw, str(path))


def load_export_bytes(raw: bytes, name: str) -> dict[str, Any]:
    """Check an export already in memory (an upload called `name`) exactly as load_export_file does.

    Raises ImportError_ naming the problem, with the same messages as load_export_file.
    """
    _check_size(name, len(raw))
    return _decode(raw, name)


def _when(value: datetime | None, now: datetime) -> datetime:
    return now if value is None else value


def _parents_first(messages: list[MessageRow]) -> list[list[MessageRow]]:
    """Messages in waves: each wave's parents are all in earlier waves; file order kept within a wave.

    An export lists parents before children already, so this is the file order, cut where a message
    answers one in the current wave (it needs that message's new id).
    """
    index = {m.id: i for i, m in enumerate(messages)}
    children: dict[int, list[int]] = {}
    ready: list[int] = []
    for i, m in enumerate(messages):
        if m.parent_id is None:
            ready.append(i)
        else:
            children.setdefault(m.parent_id, []).append(i)
    heapq.heapify(ready)
    order: list[int] = []
    while ready:
        i = heapq.heappop(ready)
        order.append(i)
        for child in children.get(messages[i].id, []):
            heapq.heappush(ready, child)
    # Cut a wave where the next message's parent has not been flushed yet.
    waves: list[list[MessageRow]] = []
    flushed: set[int] = set()
    wave: list[MessageRow] = []
    for i in order:
        parent = messages[i].parent_id
        if parent is not None and index[parent] not in flushed:
            waves.append(wave)
            flushed.update(index[m.id] for m in wave)
            wave = []
        wave.append(messages[i])
    if wave:
        waves.append(wave)
    return [w for w in waves if w]


def _add_conversation(session: Session, source: ConversationRow, now: datetime) -> int:
    conversation = Conversation(
        title=source.title,
        notes=source.notes,
        created_at=_when(source.created_at, now),
        updated_at=_when(source.updated_at, now),
    )
    session.add(conversation)
    session.flush()
    cid = conversation.id
    assert cid is not None
    return cid


def _add_lanes(session: Session, source: list[LaneRow], cid: int, now: datetime) -> dict[int, int | None]:
    """Insert the lanes; returns each file id's new id."""
    lanes = [
        Lane(
            **lane.model_dump(exclude={"id", "conversation_id", "created_at"}),
            conversation_id=cid,
            created_at=_when(lane.created_at, now),
        )
        for lane in source
    ]
    session.add_all(lanes)
    session.flush()
    return {old.id: new.id for old, new in zip(source, lanes, strict=True)}


def _add_messages(
    session: Session, source: list[MessageRow], cid: int, lane_ids: dict[int, int | None], now: datetime
) -> dict[int, int | None]:
    """Insert the message tree, parents before children; returns each file id's new id."""
    message_ids: dict[int, int | None] = {}
    placed: list[tuple[MessageRow, Message]] = []
    for wave in _parents_first(source):
        rows = [
            Message(
                **m.model_dump(
                    exclude={"id", "conversation_id", "lane_id", "parent_id", "diverged_from_id", "created_at"}
                ),
                conversation_id=cid,
                lane_id=None if m.lane_id is None else lane_ids[m.lane_id],
                parent_id=None if m.parent_id is None else message_ids[m.parent_id],
                created_at=_when(m.created_at, now),
            )
            for m in wave
        ]
        session.add_all(rows)
        session.flush()
        message_ids.update((m.id, row.id) for m, row in zip(wave, rows, strict=True))
        placed.extend(zip(wave, rows, strict=True))
    # A branch may point at any message, earlier or later in the tree: set it once all have new ids.
    for m, row in placed:
        if m.diverged_from_id is not None:
            row.diverged_from_id = message_ids[m.diverged_from_id]
    return message_ids


def _add_annotations(
    session: Session, source: list[AnnotationRow], cid: int, message_ids: dict[int, int | None], now: datetime
) -> None:
    session.add_all(
        Annotation(
            # A note on a message also records its conversation, as repo.add_annotation does.
            message_id=None if a.message_id is None else message_ids[a.message_id],
            conversation_id=cid,
            tags=list(a.tags),
            rating=a.rating,
            note=a.note,
            created_at=_when(a.created_at, now),
        )
        for a in source
    )


def import_conversation(*, session: Session, data: dict[str, Any]) -> int:
    """Restore an export as a new conversation, with new ids, in one transaction; returns its id.

    Timestamps are kept from the file (now where the file has none), so export -> import -> export
    differs only in ids. Raises ImportError_ (checked before anything is written) for an invalid export.
    """
    export = validate_export(data)
    now = utcnow()
    try:
        cid = _add_conversation(session, export.conversation, now)
        lane_ids = _add_lanes(session, export.lanes, cid, now)
        message_ids = _add_messages(session, export.messages, cid, lane_ids, now)
        _add_annotations(session, export.annotations, cid, message_ids, now)
        session.commit()
    except Exception:
        session.rollback()
        raise
    return cid
