# The conversation file format (what repo.export_conversation writes) as pydantic models, and every check on a
# file that needs no database. A field holds only what the app itself would store and can later run: a file
# that passes imports, then opens, sends, branches and exports without failing on a value read back.

import reprlib
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from pydantic_core import ErrorDetails, PydanticCustomError

from simulator.values import ENTROPY_BOUND, Contrast, FinishReason, SamplingSettings, Steering
from storage.annotations import check_reviewer
from storage.bulk import paused_gc
from storage.errors import ImportError_, InvalidValue
from storage.tables import SAMPLING_FIELDS, LaneKind, MessageStatus, Role

EXPORT_FORMAT = "simulacra.conversation"
EXPORT_VERSION = 1

# SQLite and PostgreSQL keep integers in 8 bytes: a bigger one would pass here and end the import in an
# OverflowError halfway through writing it.
Int64 = Annotated[int, Field(ge=-(2**63), le=2**63 - 1)]


def _in_utc(value: datetime) -> datetime:
    # Storage keeps UTC; 9999-12-31T23:00-05:00 is in year 10000 there, which datetime cannot hold.
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise PydanticCustomError("datetime_range", "Datetime is outside the years 1 to 9999 in UTC") from None


UtcTime = Annotated[AwareDatetime, AfterValidator(_in_utc)]


def _probability(value: Any) -> bool:
    # type() rather than isinstance: True is an int, and not a probability.
    return (type(value) is float or type(value) is int) and 0 <= value <= 1


def _entropy(item: list[Any]) -> bool:
    # The optional tail `Token.compact` writes: an entropy in nats (finite, not negative), then "bound" when
    # it is a lower bound. Files and rows from before entropy end at the alternatives.
    if len(item) < 4:
        return True
    value = item[3]
    if not ((type(value) is float or type(value) is int) and 0 <= value <= _MAX_ENTROPY):
        return False
    return len(item) == 4 or item[4] == ENTROPY_BOUND


# No vocabulary reaches e^1000 tokens; the bound keeps NaN and infinity out.
_MAX_ENTROPY = 1000


def _compact_token(item: Any) -> Any:
    # The form simulator.values.Token.compact writes and Token.from_compact reads. Anything else would import
    # and then fail in the token view and in `branch`; a p outside 0..1 (or NaN) has no colour band. Plain
    # loops: a long conversation has hundreds of thousands of tokens, and the exports check them again.
    if type(item) is list and 1 <= len(item) <= 5 and type(item[0]) is str:
        if len(item) == 1:
            return item
        top = item[2] if len(item) >= 3 else []
        if _probability(item[1]) and type(top) is list and _entropy(item):
            for alternative in top:
                if not (type(alternative) is list and len(alternative) == 2 and type(alternative[0]) is str):
                    break
                if not _probability(alternative[1]):
                    break
            else:
                return item
    raise PydanticCustomError(
        "token_shape",
        'A token is [text] or [text, p, [[alternative, p], ...]] (then optionally its entropy in nats, and "bound"'
        " when that is a lower bound), each p a number from 0 to 1",
    )


CompactToken = Annotated[Any, AfterValidator(_compact_token)]


def _settings_in_int64(settings: SamplingSettings) -> SamplingSettings:
    for name in ("seed", "top_k"):
        value = getattr(settings, name)
        if value is not None and not -(2**63) <= value < 2**63:
            raise PydanticCustomError("int64", "{name} {value} does not fit in 64 bits", {"name": name, "value": value})
    return settings


def _reviewer_name(value: str) -> str:
    # The rule every reviewer name meets when it is saved (storage.annotations), with its own message.
    try:
        return check_reviewer(value)
    except InvalidValue as e:
        raise PydanticCustomError("reviewer_name", str(e)) from None


ReviewerName = Annotated[str, AfterValidator(_reviewer_name)]


class _Row(BaseModel):
    # Unknown keys are refused and named: they are typos or a file from another tool.
    model_config = ConfigDict(extra="forbid")


class ConversationRow(_Row):
    id: Int64
    title: str = ""
    notes: str = ""
    created_at: UtcTime | None = None
    updated_at: UtcTime | None = None


class LaneRow(_Row):
    id: Int64
    conversation_id: Int64
    position: Int64
    label: str
    kind: LaneKind
    model: str
    mask_name: str | None = None
    # Checked against personas' Mask by the service (storage does not know masks): ui.service.transcripts.service.
    mask_snapshot: dict[str, Any] | None = None
    system_prompt: str | None = None
    temperature: float
    top_p: float
    top_k: Int64
    max_tokens: Int64
    seed: Int64 | None = None
    stop: list[str] = Field(default_factory=list, fail_fast=True)
    contrast: Contrast | None = None
    # A steered lane's direction (by name and vector sha256), α and layers; the direction's numbers are not in
    # the file: a lane whose direction is not in the database it is imported into says so when it runs.
    steering: Steering | None = None
    created_at: UtcTime | None = None

    @field_validator(*SAMPLING_FIELDS)
    @classmethod
    def _a_sampling_setting(cls, value: Any, info: ValidationInfo) -> Any:
        """Each setting within what SamplingSettings allows, as a turn reads it back (temperature 0..2, ...)."""
        try:
            SamplingSettings.model_validate({info.field_name: value})
        except ValidationError as e:
            problem = e.errors()[0]
            raise PydanticCustomError(problem["type"], problem["msg"]) from None
        return value


class MessageRow(_Row):
    id: Int64
    conversation_id: Int64
    lane_id: Int64 | None = None
    parent_id: Int64 | None = None
    role: Role
    content: str = ""
    status: MessageStatus = "complete"
    error: str | None = None
    # One of the words a turn itself stores: the pages show it beside the reply, so free text has no place here.
    finish_reason: FinishReason | None = None
    # fail_fast on every list: a list of a million wrong items is one problem, not a million held in memory.
    tokens: Annotated[list[CompactToken], Field(fail_fast=True)] | None = None
    prompt: str | list[Any] | None = None
    ttft_ms: float | None = None
    total_ms: float | None = None
    tokens_per_s: float | None = None
    seed: Int64 | None = None
    model_sha256: str | None = None
    # Any JSON object, on purpose: the read model shows a reply without badges when its metrics do not fit
    # FidelityMetrics (ui.service.read_models), and a newer version's extra metric should not refuse the file.
    metrics: dict[str, Any] | None = None
    settings: Annotated[SamplingSettings, AfterValidator(_settings_in_int64)] | None = None
    diverged_from_id: Int64 | None = None
    diverged_at: Int64 | None = Field(default=None, ge=0)
    contrast: Contrast | None = None
    steering: Steering | None = None
    created_at: UtcTime | None = None


class AnnotationRow(_Row):
    id: Int64
    message_id: Int64 | None = None
    conversation_id: Int64 | None = None
    tags: list[str] = Field(default_factory=list, fail_fast=True)
    rating: int | None = Field(default=None, ge=-1, le=1)
    note: str = ""
    reviewer: ReviewerName | None = None
    created_at: UtcTime | None = None


class ExportFile(_Row):
    """One conversation with its lanes, message tree and annotations, ids as they were in the database."""

    format: Literal["simulacra.conversation"]
    version: Literal[1]
    conversation: ConversationRow
    lanes: list[LaneRow] = Field(default_factory=list)
    messages: list[MessageRow] = Field(default_factory=list)
    annotations: list[AnnotationRow] = Field(default_factory=list)


# A refused value is quoted briefly, however big it is: repr() of a whole message list would take a while.
_brief = reprlib.Repr()
_brief.maxstring = _brief.maxother = 60
_brief.maxlong = 40
_brief.maxlevel = 2


def _step(part: int | str) -> str:
    # A key from the file is quoted unless it is a plain name: it may hold a newline or a lone surrogate.
    if isinstance(part, int):
        return f"[{part}]"
    return f".{part}" if part.isidentifier() else f"[{part!r}]"


def where(loc: tuple[int | str, ...], data: Any) -> str:
    """A field's place in the file, naming its row by id too: `messages[3] (id 17).role`."""
    row = None
    if len(loc) > 2 and isinstance(loc[1], int) and isinstance(data, dict):
        rows = data.get(str(loc[0]))
        row = rows[loc[1]] if isinstance(rows, list) and loc[1] < len(rows) else None
    return row_where(loc, row)


def row_where(loc: tuple[int | str, ...], row: Any) -> str:
    """As `where`, given the row that `loc[:2]` (`("messages", 3)`) points at, when a reader has only that row."""
    text = "".join(_step(part) for part in loc).lstrip(".")
    if len(loc) > 2 and isinstance(loc[1], int) and isinstance(row, dict) and "id" in row:
        text = f"{loc[0]}[{loc[1]}] (id {_brief.repr(row['id'])})" + text[len(f"{loc[0]}[{loc[1]}]") :]
    return text or "file"


def brief(value: Any) -> str:
    """A value from the file quoted in a message, cut short however big it is."""
    return _brief.repr(value)


def describe_problems(errors: list[ErrorDetails], data: Any, *, at: tuple[int | str, ...] = (), limit: int = 3) -> str:
    """pydantic's problems as one line, each naming its field in the file; `at` is where the validated value
    sits in the file (a lane's mask_snapshot is validated on its own)."""
    problems = []
    for item in errors[:limit]:
        got = "" if item["type"] in ("missing", "extra_forbidden") else f", got {_brief.repr(item['input'])}"
        problems.append(f"{where((*at, *item['loc']), data)}: {item['msg']}{got}")
    more = len(errors) - limit
    return "; ".join(problems) + (f" (and {more} more problems)" if more > 0 else "")


def _check_duplicates(kind: str, ids: list[int]) -> None:
    seen: set[int] = set()
    for row_id in ids:
        if row_id in seen:
            raise ImportError_(f"duplicate {kind} id {row_id}")
        seen.add(row_id)


def _check_messages(export: ExportFile) -> None:
    cid = export.conversation.id
    lanes = {lane.id for lane in export.lanes}
    messages = {m.id: m for m in export.messages}
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


def _check_tree(export: ExportFile) -> None:
    cid = export.conversation.id
    for lane in export.lanes:
        if lane.conversation_id != cid:
            raise ImportError_(f"lane {lane.id} belongs to conversation {lane.conversation_id}, not {cid}")
    _check_messages(export)
    messages = {m.id for m in export.messages}
    for a in export.annotations:
        if a.message_id is None and a.conversation_id is None:
            raise ImportError_(f"annotation {a.id} has neither a message_id nor a conversation_id")
        if a.message_id is not None and a.message_id not in messages:
            raise ImportError_(f"annotation {a.id} is on message {a.message_id}, which is not in the file")
        if a.conversation_id is not None and a.conversation_id != cid:
            raise ImportError_(f"annotation {a.id} belongs to conversation {a.conversation_id}, not {cid}")


def validate_export(data: Any) -> ExportFile:
    """Check a decoded export completely: format, version, fields and their ranges, ids and the message tree.

    Raises ImportError_ naming the first problem.
    """
    if not isinstance(data, dict):
        raise ImportError_(f"expected a JSON object (a Simulacra conversation export), got a {type(data).__name__}")
    if data.get("format") != EXPORT_FORMAT:
        raise ImportError_(
            f"not a Simulacra conversation export: format is {_brief.repr(data.get('format'))}, "
            f"expected {EXPORT_FORMAT!r}"
        )
    if data.get("version") != EXPORT_VERSION:
        raise ImportError_(
            f"export version {_brief.repr(data.get('version'))} is not supported; "
            f"this Simulacra reads version {EXPORT_VERSION}"
        )
    try:
        with paused_gc():  # a row object for every message and annotation; see storage.bulk
            export = ExportFile.model_validate(data)
    except ValidationError as e:
        raise ImportError_(f"not a valid conversation export: {describe_problems(e.errors(), data)}") from e
    check_rows(export)
    return export


def check_rows(export: ExportFile) -> None:
    """What no single row shows: ids unique, and every id a row names is in the file, with no cycles.

    Raises ImportError_ naming the first problem.
    """
    _check_duplicates("lane", [lane.id for lane in export.lanes])
    _check_duplicates("message", [m.id for m in export.messages])
    _check_duplicates("annotation", [a.id for a in export.annotations])
    _check_tree(export)
