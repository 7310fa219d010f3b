# Reading a conversation file and importing it: the file's size, nesting and text are checked before it is parsed,
# then it is read and checked a row at a time (storage.importscan), all before anything is written, and the import
# is one transaction.

import heapq
import json
import re
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlmodel import Session

from storage.bulk import paused_gc
from storage.errors import ImportError_

# Re-exported: the file format's names have always been reached through storage.imports.
from storage.exportfile import EXPORT_FORMAT as EXPORT_FORMAT
from storage.exportfile import EXPORT_VERSION as EXPORT_VERSION
from storage.exportfile import AnnotationRow as AnnotationRow
from storage.exportfile import ConversationRow as ConversationRow
from storage.exportfile import ExportFile as ExportFile
from storage.exportfile import LaneRow as LaneRow
from storage.exportfile import MessageRow as MessageRow
from storage.exportfile import describe_problems as describe_problems
from storage.exportfile import validate_export as validate_export
from storage.importscan import read_export
from storage.tables import Annotation, Conversation, Lane, Message, utcnow

# Module attributes, read on every call, so a test can lower them.
# A valid file's rows cost many times its size as Python objects: bench/storage.py's 5,000-message export with
# top-5 alternatives for every token (18 MB) took `simulacra import` to 327 MB, 20 MB of one-letter tokens to
# 478 MB. 32 MB keeps an import within what the app server can spare beside its models.
MAX_IMPORT_BYTES = 32 * 1024 * 1024
MAX_IMPORT_DEPTH = 64  # levels of objects and lists; an export uses about 7

# What the nesting check keeps of a file: quotes (to find its strings) and brackets.
_NOT_A_MARK = bytes(sorted(set(range(256)) - set(b'"[]{}')))
_STRING = re.compile(rb'"[^"]*"')
_AS_LISTS = bytes.maketrans(b"{}", b"[]")
# A regex substitution makes an object for every piece it keeps: over a whole 20 MB file of `{}, {}, ...` that
# was 300 MB. A chunk at a time, that is at most a few MB.
_CHUNK = 1024 * 1024


def _check_size(source: str, size: int) -> None:
    if size > MAX_IMPORT_BYTES:
        limit = MAX_IMPORT_BYTES // 1024 // 1024
        raise ImportError_(f"{source} is {size / 1024 / 1024:.0f} MB; imports are limited to {limit} MB")


def _deeper_than(brackets: bytes, limit: int) -> bool:
    """Whether a text of `[` and `]` nests more than `limit` deep: each pass removes the innermost pairs, so
    text nested n deep is empty after n passes. No recursion, and at most `limit` linear passes."""
    if b"[" * (limit + 1) in brackets:
        return True  # a run of openers: plainly deeper, no passes needed
    for _ in range(limit):
        inner_gone = brackets.replace(b"[]", b"")
        if len(inner_gone) == len(brackets):
            break  # no pair left: nothing, or brackets that never close (bad JSON, which json then names)
        brackets = inner_gone
    # Pairs left after every pass are nested deeper; so are more unclosed brackets than the limit.
    return b"[]" in brackets or brackets.count(b"[") > limit


def _brackets(utf8: bytes) -> bytes:
    """The file's brackets outside its strings, `{}` written as `[]`. UTF-8 bytes: no byte of a character
    beyond ASCII is a quote, a backslash or a bracket."""
    # Escaped backslashes first, then escaped quotes: `\\"` ends a string, `\\\"` does not.
    marks = utf8.replace(b"\\\\", b"").replace(b'\\"', b"").translate(None, _NOT_A_MARK)
    kept: list[bytes] = []
    in_string = False
    for start in range(0, len(marks), _CHUNK):
        chunk = marks[start : start + _CHUNK]
        if in_string:  # a string that began in an earlier chunk
            end = chunk.find(b'"')
            if end < 0:
                continue
            chunk, in_string = chunk[end + 1 :], False
        outside = _STRING.sub(b"", chunk)
        opened = outside.find(b'"')  # at most one quote is left: a string that goes on past this chunk
        if opened >= 0:
            outside, in_string = outside[:opened], True
        kept.append(outside)
    return b"".join(kept).translate(_AS_LISTS)


def _check_depth(utf8: bytes, source: str) -> None:
    """Refuse JSON nested deeper than MAX_IMPORT_DEPTH before it is parsed: json's parser recurses once a level
    and raises RecursionError on a file of a million `[` (or crashes, under a raised recursion limit)."""
    if _deeper_than(_brackets(utf8), MAX_IMPORT_DEPTH):
        raise ImportError_(
            f"{source} nests objects and lists more than {MAX_IMPORT_DEPTH} levels deep; "
            f"imports allow {MAX_IMPORT_DEPTH}"
        )


def _text(raw: bytes, source: str) -> str:
    """The file's text, once it is not empty, is UTF-8 (or 16 or 32) and nests no deeper than allowed."""
    if not raw or raw.isspace():
        raise ImportError_(f"{source} is empty")
    encoding = json.detect_encoding(raw)
    try:
        text = raw.decode(encoding)  # strict: raw surrogates are not UTF-8 either
    except UnicodeDecodeError as e:
        raise ImportError_(f"{source} is not UTF-8 text: {e.reason} at byte {e.start}") from e
    _check_depth(raw if encoding.startswith("utf-8") else text.encode("utf-8"), source)
    return text


def _read(text: str, source: str) -> ExportFile:
    """Read and check an export's text; every error message starts with `source`."""
    try:
        with paused_gc():  # a row object for every message and annotation; see storage.bulk
            return read_export(text)
    except json.JSONDecodeError as e:
        ends_early = e.pos >= len(e.doc.rstrip()) or e.msg.startswith("Unterminated string")
        truncated = "; the file ends early: is it truncated?" if ends_early else ""
        raise ImportError_(f"{source} is not valid JSON: {e.msg} (line {e.lineno}, column {e.colno}){truncated}") from e
    except ValueError as e:  # an integer of more than 4,300 digits; the rest of the message is for programmers
        raise ImportError_(f"{source} is not valid JSON here: {str(e).split(';')[0]}") from e
    except ImportError_ as e:
        raise ImportError_(f"{source}: {e}") from e


def load_export_file(path: Path | str) -> ExportFile:
    """Read and fully check a conversation export file before anything is written.

    Raises ImportError_ naming the problem: a missing or unreadable file, one over MAX_IMPORT_BYTES (checked
    before reading), malformed or truncated JSON, more than importscan.MAX_IMPORT_ROWS rows, or the first
    problems (up to 20) that the rows show.
    """
    path = Path(path)
    try:
        _check_size(str(path), path.stat().st_size)  # before reading: the file may be huge
        with path.open("rb") as file:
            raw = file.read(MAX_IMPORT_BYTES + 1)  # no further: it may have grown, or be a device that never ends
    except OSError as e:
        raise ImportError_(f"cannot read {path}: {e.strerror or e}") from e
    _check_size(str(path), len(raw))
    text = _text(raw, str(path))
    del raw  # the text is all that is read from now on
    return _read(text, str(path))


def load_export_bytes(raw: bytes, name: str) -> ExportFile:
    """Check an export already in memory (an upload called `name`) exactly as load_export_file does.

    Raises ImportError_ naming the problem, with the same messages as load_export_file.
    """
    _check_size(name, len(raw))
    return _read(_text(raw, name), name)


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


_RENUMBERED = {"id", "conversation_id", "lane_id", "parent_id", "diverged_from_id", "created_at"}


def _message_fields(m: MessageRow) -> dict[str, Any]:
    # The row's own values, not model_dump's deep copy: a reply's tokens are most of a file, and copying them
    # all while writing doubled what a big import held.
    fields = {name: getattr(m, name) for name in MessageRow.model_fields if name not in _RENUMBERED}
    fields["settings"] = None if m.settings is None else m.settings.model_dump()
    fields["contrast"] = None if m.contrast is None else m.contrast.model_dump(mode="json")
    fields["steering"] = None if m.steering is None else m.steering.model_dump(mode="json")
    return fields


def _add_messages(
    session: Session, source: list[MessageRow], cid: int, lane_ids: dict[int, int | None], now: datetime
) -> dict[int, int | None]:
    """Insert the message tree, parents before children; returns each file id's new id."""
    message_ids: dict[int, int | None] = {}
    # Only the branches are kept until the end: the session holds a written row weakly, so the rest of a big
    # import is not held twice (as checked rows and as rows written) until it commits.
    branches: list[tuple[Message, int]] = []
    for wave in _parents_first(source):
        rows = [
            Message(
                **_message_fields(m),
                conversation_id=cid,
                lane_id=None if m.lane_id is None else lane_ids[m.lane_id],
                parent_id=None if m.parent_id is None else message_ids[m.parent_id],
                created_at=_when(m.created_at, now),
            )
            for m in wave
        ]
        session.add_all(rows)
        session.flush()
        for m, row in zip(wave, rows, strict=True):
            message_ids[m.id] = row.id
            if m.diverged_from_id is not None:
                branches.append((row, m.diverged_from_id))
    # A branch may point at any message, earlier or later in the tree: set it once all have new ids.
    for row, diverged_from in branches:
        row.diverged_from_id = message_ids[diverged_from]
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
            reviewer=a.reviewer,
            created_at=_when(a.created_at, now),
        )
        for a in source
    )


def import_conversation(*, session: Session, data: ExportFile | dict[str, Any]) -> int:
    """Restore an export (as load_export_file checked it, or a decoded one) as a new conversation, with new
    ids, in one transaction; returns its id.

    Timestamps are kept from the file (now where the file has none), so export -> import -> export
    differs only in ids. Raises ImportError_ (checked before anything is written) for an invalid export.
    """
    export = data if isinstance(data, ExportFile) else validate_export(data)
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
