# Reading a conversation file and importing it: the file's size, nesting and text are checked before it is parsed,
# its every field (storage.exportfile) before anything is written, and the import is one transaction.

import heapq
import json
import re
from collections.abc import Iterator
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
from storage.exportfile import where
from storage.tables import Annotation, Conversation, Lane, Message, utcnow

# Module attributes, read on every call, so a test can lower them.
MAX_IMPORT_BYTES = 200 * 1024 * 1024
MAX_IMPORT_DEPTH = 64  # levels of objects and lists; an export uses about 7

# What is not a bracket that nests, once escapes are gone: a JSON string, or a run of anything but brackets and
# quotes. Each quote starts at most one scan to the end of the text (an unclosed string), so this is linear.
_NOT_NESTING = re.compile(r'"[^"]*"|[^"\[\]{}]+')
# \ud800-\udfff written as an escape: half of a UTF-16 pair, which may stand alone after parsing.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def _check_size(source: str, size: int) -> None:
    if size > MAX_IMPORT_BYTES:
        limit = MAX_IMPORT_BYTES // 1024 // 1024
        raise ImportError_(f"{source} is {size / 1024 / 1024:.0f} MB; imports are limited to {limit} MB")


def _deeper_than(brackets: str, limit: int) -> bool:
    """Whether a text of `[` and `]` nests more than `limit` deep: each pass removes the innermost pairs, so
    text nested n deep is empty after n passes. No recursion, and at most `limit` linear passes."""
    if "[" * (limit + 1) in brackets:
        return True  # a run of openers: plainly deeper, no passes needed
    for _ in range(limit):
        inner_gone = brackets.replace("[]", "")
        if len(inner_gone) == len(brackets):
            break  # no pair left: nothing, or brackets that never close (bad JSON, which json then names)
        brackets = inner_gone
    # Pairs left after every pass are nested deeper; so are more unclosed brackets than the limit.
    return "[]" in brackets or brackets.count("[") > limit


def _check_depth(text: str, source: str) -> None:
    """Refuse JSON nested deeper than MAX_IMPORT_DEPTH before it is parsed: json's parser recurses once a level
    and raises RecursionError on a file of a million `[` (or crashes, under a raised recursion limit)."""
    # Escaped backslashes first, then escaped quotes: `\\"` ends a string, `\\\"` does not.
    unescaped = text.replace("\\\\", "").replace('\\"', "")
    brackets = _NOT_NESTING.sub("", unescaped).replace('"', "").replace("{", "[").replace("}", "]")
    if _deeper_than(brackets, MAX_IMPORT_DEPTH):
        raise ImportError_(
            f"{source} nests objects and lists more than {MAX_IMPORT_DEPTH} levels deep; "
            f"imports allow {MAX_IMPORT_DEPTH}"
        )


def _strings(data: Any) -> Iterator[tuple[tuple[int | str, ...], str, bool]]:
    """Every string in decoded JSON with where it is, and whether it is a key (then `where` is its object's
    place); iterative, so as deep as the file goes."""
    stack: list[tuple[tuple[int | str, ...], Any]] = [((), data)]
    while stack:
        loc, value = stack.pop()
        if isinstance(value, str):
            yield loc, value, False
        elif isinstance(value, dict):
            for key, item in value.items():
                yield loc, key, True
                stack.append(((*loc, key), item))
        elif isinstance(value, list):
            stack.extend(((*loc, i), item) for i, item in enumerate(value))


def _check_text(data: Any, text: str) -> None:
    # A lone surrogate parses into a str that no database can encode: the write would fail halfway with a
    # UnicodeEncodeError. Only a file with such escapes is searched for one.
    if not _SURROGATE_ESCAPE.search(text):
        return
    for loc, value, is_key in _strings(data):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as e:
            bad = f"\\u{ord(value[e.start]):04x}"
            what = "a key" if is_key else "text"
            raise ImportError_(f"{where(loc, data)}: {what} holds {bad}, half of a UTF-16 pair, alone") from e


def _parse(raw: bytes, source: str) -> tuple[Any, str]:
    """The decoded JSON and its text, once size, encoding, nesting and syntax are fine."""
    if not raw or raw.isspace():
        raise ImportError_(f"{source} is empty")
    try:
        text = raw.decode(json.detect_encoding(raw))  # strict: raw surrogates are not UTF-8 either
    except UnicodeDecodeError as e:
        raise ImportError_(f"{source} is not UTF-8 text: {e.reason} at byte {e.start}") from e
    _check_depth(text, source)
    try:
        with paused_gc():
            return json.loads(text), text
    except json.JSONDecodeError as e:
        ends_early = e.pos >= len(e.doc.rstrip()) or e.msg.startswith("Unterminated string")
        truncated = "; the file ends early: is it truncated?" if ends_early else ""
        raise ImportError_(f"{source} is not valid JSON: {e.msg} (line {e.lineno}, column {e.colno}){truncated}") from e
    except ValueError as e:  # an integer of more than 4,300 digits; the rest of the message is for programmers
        raise ImportError_(f"{source} is not valid JSON here: {str(e).split(';')[0]}") from e


def _decode(raw: bytes, source: str) -> dict[str, Any]:
    """Parse and fully check an export's bytes; every error message starts with `source`."""
    data, text = _parse(raw, source)
    try:
        validate_export(data)
        _check_text(data, text)
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
        with path.open("rb") as file:
            raw = file.read(MAX_IMPORT_BYTES + 1)  # no further: it may have grown, or be a device that never ends
    except OSError as e:
        raise ImportError_(f"cannot read {path}: {e.strerror or e}") from e
    _check_size(str(path), len(raw))
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
            reviewer=a.reviewer,
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
