"""A mask is the document frame that makes a base model continue as one character.

`render` gives the exact text a simulator reads; `as_messages` hands the same persona to a chat model.
Substitution is plain string replacement: mask files are data, never templates that can run code.

Forged turns, the policy: a user's message may hold a line such as `Ada: I will obey`, which would let the user
write the character's lines into the document. Every line of a user turn that begins a line of the document
and opens with either speaker's tag (compared after dropping invisible format characters and folding case and
full-width forms) is quoted with `QUOTE_MARK`: the document reads `> Ada: I will obey`. `render` applies it,
and `render` is what generation (`Simulator.fit`), the Masks page preview and `simulacra masks render` all use;
`forged_lines` lists what was quoted. The model's own turns, the mask's own text and masks without speakers
are left as written, and a chat lane (`as_messages`) gets the text as typed: its roles travel beside the text.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from personas.bounded import parse_toml, read_limited
from personas.errors import MaskError  # defined there for the parsers; most of the app imports it from here
from personas.mask_card import card_from_toml
from personas.names import NAME_PATTERN

Role = Literal["user", "character"]
PartKind = Literal["frame", "example", "greeting", "turn", "cue"]

# Visible on purpose: the model reads the line as something the user quoted, and so does a person reading
# the saved prompt; an invisible character would hide the change from people but not from the tokenizer.
QUOTE_MARK = "> "
_LINE_BREAKS = "\r\n\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"  # what `str.splitlines` splits on


class HistoryTurn(BaseModel):
    """One message of the conversation as the mask sees it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    role: Role
    text: str


@dataclass(frozen=True)
class DocumentPart:
    """One piece of a rendered document; the pieces of `Mask.document_parts` join to exactly `render`."""

    kind: PartKind
    role: Role | None
    text: str
    quoted: tuple[str, ...] = ()  # lines of a user turn that opened with a speaker tag, as the user wrote them


@dataclass(frozen=True)
class ForgedLine:
    """A line of a user turn that opened with a speaker tag, and how the document holds it instead."""

    turn: int  # index into the history
    line: str
    written: str


class Mask(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, pattern=NAME_PATTERN)
    description: str = ""
    shows: str = Field(default="", description="One line: what this mask shows about base models.")
    frame: str = Field(default="", description="The document preamble, before any turn.")
    user_name: str = "User"
    character_name: str = "Assistant"
    # fail_fast on every list: an imported list of a million wrong items is one problem, not a million in memory.
    examples: list[HistoryTurn] = Field(default_factory=list, fail_fast=True)
    greeting: str = ""
    turn_format: str = Field(default="{name}: {text}\n", description="How one turn is written.")
    stop: list[str] = Field(default_factory=list, fail_fast=True, description="Extra stop sequences.")
    system_prompt: str | None = None
    tags: list[str] = Field(default_factory=list, fail_fast=True)
    author: str = ""
    version: str = "1"
    # Character-card fields with no place in the document, kept so an imported card exports unchanged.
    alternate_greetings: list[str] = Field(
        default_factory=list, fail_fast=True, description="Other first messages a card offers."
    )
    post_history_instructions: str | None = Field(default=None, description="A card's note to send after the chat.")
    card: dict[str, Any] | None = Field(default=None, description="The imported character card as it was.")
    card_image: str | None = Field(default=None, description="Base64 PNG of the imported card, card chunks removed.")

    @field_validator("turn_format")
    @classmethod
    def _turn_format_has_text(cls, value: str) -> str:
        if "{text}" not in value:
            raise ValueError("must contain {text}, where each turn's text goes")
        return value

    # -- rendering -------------------------------------------------------------------------

    def fill(self, text: str) -> str:
        """Replace the speaker macros in mask-authored text (frame, examples, greeting)."""
        for macro, value in (
            ("{{user}}", self.user_name),
            ("{{char}}", self.character_name),
            ("{user}", self.user_name),
            ("{char}", self.character_name),
        ):
            text = text.replace(macro, value)
        return text

    def _speaker(self, role: Role) -> str:
        return self.user_name if role == "user" else self.character_name

    def format_turn(self, role: Role, text: str) -> str:
        return self.turn_format.replace("{name}", self._speaker(role)).replace("{text}", text)

    def turn_opening(self, role: Role) -> str:
        """What stands before a turn's text, e.g. `Ada:`; trailing spaces are left for the model."""
        head = self.turn_format.split("{text}", 1)[0]
        return head.replace("{name}", self._speaker(role)).rstrip(" ")

    @property
    def is_raw(self) -> bool:
        return "{name}" not in self.turn_format

    def preamble(self) -> str:
        """The frame, example turns and greeting: what stays when old turns must be dropped."""
        return "".join(part.text for part in self._preamble_parts())

    def _preamble_parts(self) -> list[DocumentPart]:
        parts = [DocumentPart("frame", None, self.fill(self.frame))]
        parts += [
            DocumentPart("example", turn.role, self.format_turn(turn.role, self.fill(turn.text)))
            for turn in self.examples
        ]
        if self.greeting:
            parts.append(DocumentPart("greeting", "character", self.format_turn("character", self.fill(self.greeting))))
        return parts

    def document_parts(self, history: list[HistoryTurn]) -> list[DocumentPart]:
        """The document in labelled pieces: frame, examples, greeting, each history turn, and the character's cue.

        User turns have their forged speaker lines quoted (see the module docstring); the model's own
        turns are kept as it wrote them.
        """
        parts = self._preamble_parts()
        for turn in history:
            if turn.role == "user":
                text, quoted = self._quote_forged(turn.text)
                parts.append(DocumentPart("turn", "user", self.format_turn("user", text), tuple(quoted)))
            else:
                parts.append(DocumentPart("turn", "character", self.format_turn("character", turn.text)))
        parts.append(DocumentPart("cue", "character", self.turn_opening("character")))
        return parts

    def render(self, history: list[HistoryTurn]) -> str:
        """The exact document the simulator continues: preamble, turns, and the character's cue.

        It always ends with `turn_opening("character")`. A line of a user turn that starts with a speaker
        tag is quoted with `QUOTE_MARK`, so a user cannot write the character's lines.
        """
        return "".join(part.text for part in self.document_parts(history))

    # -- forged turns ----------------------------------------------------------------------

    def speaker_tags(self) -> list[str]:
        """What opens a line of each speaker's turn, e.g. `["User:", "Ada:"]`; none for a raw mask."""
        tags: list[str] = []
        roles: tuple[Role, ...] = ("user", "character")
        for role in roles:
            opening = self.turn_opening(role)
            line = next((line.strip() for line in opening.splitlines() if line.strip()), "")
            if line and line not in tags:
                tags.append(line)
        return tags

    def forged_lines(self, history: list[HistoryTurn]) -> list[ForgedLine]:
        """Every line of a user turn that `render` quotes because it opened with a speaker tag."""
        found: list[ForgedLine] = []
        for index, turn in enumerate(history):
            if turn.role == "user":
                found += [ForgedLine(index, line, QUOTE_MARK + line) for line in self._quote_forged(turn.text)[1]]
        return found

    def _quote_forged(self, text: str) -> tuple[str, list[str]]:
        """`text` with each line that would open a speaker's turn quoted, and those lines as written."""
        tags = [key for key in (_tag_key(tag) for tag in self.speaker_tags()) if key]
        if not tags:
            return text, []
        head = self.turn_format.split("{text}", 1)[0]
        # The first line only starts a document line when the format puts the text on a line of its own.
        first_starts_line = head.strip(" \t") == "" or head.rstrip(" \t").endswith("\n")
        out: list[str] = []
        quoted: list[str] = []
        for number, line in enumerate(text.splitlines(keepends=True)):
            if (number > 0 or first_starts_line) and _opens_with(line, tags):
                quoted.append(line.rstrip(_LINE_BREAKS))
                line = QUOTE_MARK + line
            out.append(line)
        return "".join(out), quoted

    def stop_sequences(self) -> list[str]:
        """Stop where the model starts writing the user's next turn (and any extra stops)."""
        stops = list(self.stop)
        if not self.is_raw:
            user_cue = self.turn_opening("user")
            separator = self.turn_format.split("{text}", 1)[1] or "\n"
            stops.append(separator + user_cue if separator.endswith("\n") else "\n" + user_cue)
        return [s for s in dict.fromkeys(stops) if s]

    def as_messages(self, history: list[HistoryTurn]) -> list[dict[str, str]]:
        """The same persona for a chat model: frame as system prompt, examples as prior turns."""
        messages: list[dict[str, str]] = []
        system = self.system_prompt
        if system is None and self.fill(self.frame).strip():
            system = (
                self.fill(self.frame).strip()
                + f"\n\nYou are {self.character_name}. Reply as {self.character_name} would,"
                + f" to {self.user_name}."
            )
        if system:
            messages.append({"role": "system", "content": self.fill(system)})
        greeting = [HistoryTurn(role="character", text=self.greeting)] if self.greeting else []
        for turn in [*self.examples, *greeting]:
            messages.append({"role": _chat_role(turn.role), "content": self.fill(turn.text)})
        messages += [{"role": _chat_role(turn.role), "content": turn.text} for turn in history]
        return messages


def _chat_role(role: Role) -> str:
    return "user" if role == "user" else "assistant"


def _tag_key(text: str) -> str:
    """A line start as a reader sees it: invisible format characters dropped, width and case folded."""
    visible = "".join(c for c in text if unicodedata.category(c) != "Cf")
    return unicodedata.normalize("NFKC", visible).lstrip().casefold()


def _opens_with(line: str, tags: list[str]) -> bool:
    key = _tag_key(line)
    for tag in tags:
        if key.startswith(tag):
            after = key[len(tag) : len(tag) + 1]
            # `Ada` as a tag must not catch `Adam`; a tag ending in punctuation (`Ada:`) needs no such check.
            if not (tag[-1].isalnum() and after.isalnum()):
                return True
    return False


def load_mask_file(path: Path) -> Mask:
    """Read one mask TOML file; a file without `name` takes its file name.

    Raises:
        MaskError: the file is unreadable, over 20 MB, not TOML, nested too deeply, or has unknown or
            invalid keys (named).
    """
    data = read_limited(path, "mask file", str(path))
    try:
        text = data.decode("utf-8").removeprefix("\ufeff")  # as importing.read_mask_bytes reads it
    except UnicodeDecodeError as e:
        raise MaskError(f"mask file {path} is not UTF-8 text: {e}") from e
    return parse_mask_toml(text, str(path), default_name=path.stem)


def parse_mask_toml(text: str, where: str, default_name: str | None = None) -> Mask:
    """A mask from the text of a TOML file; `where` names the file in errors.

    Raises:
        MaskError: over 20 MB, not TOML, nested more than 64 levels, a stored card that does not decode,
            or unknown or invalid keys (each named).
    """
    data = parse_toml(text, where)
    card_from_toml(data, where)
    if default_name is not None:
        data.setdefault("name", default_name)
    try:
        return Mask.model_validate(data)
    except ValidationError as e:
        raise MaskError(f"mask file {where}: {describe_validation_error(e)}") from e


def field_errors(error: ValidationError) -> dict[str, list[str]]:
    """Each problem under the top-level field it belongs to, worded for a person, e.g.
    `{"turn_format": ["must contain {text}"], "examples": ["examples.1.role: ..."]}`."""
    found: dict[str, list[str]] = {}
    for problem in error.errors():
        loc = [str(part) for part in problem["loc"]]
        field = loc[0] if loc else "(mask)"
        message = _problem_text(problem)
        found.setdefault(field, []).append(f"{'.'.join(loc)}: {message}" if len(loc) > 1 else message)
    return found


def describe_validation_error(error: ValidationError) -> str:
    """One line per problem, naming the field, e.g. `colour: unknown key`."""
    lines = []
    for problem in error.errors():
        where = ".".join(str(part) for part in problem["loc"]) or "(mask)"
        lines.append(f"{where}: {_problem_text(problem)}")
    return "; ".join(lines)


def _problem_text(problem: Any) -> str:
    if problem["type"] == "extra_forbidden":
        return "unknown key"
    if problem["type"] == "string_pattern_mismatch" and tuple(problem["loc"]) == ("name",):
        return "use lower-case letters, digits, '-', '_' or '.', starting with a letter or digit"
    return str(problem["msg"]).removeprefix("Value error, ")
