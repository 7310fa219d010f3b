"""A mask is the document frame that makes a base model continue as one character.

`render` gives the exact text a simulator reads; `as_messages` hands the same persona to a chat model.
Substitution is plain string replacement: mask files are data, never templates that can run code.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator


class MaskError(Exception):
    """A mask that cannot be found, parsed or validated; the message names the file and field."""


Role = Literal["user", "character"]


class HistoryTurn(BaseModel):
    """One message of the conversation as the mask sees it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    role: Role
    text: str


class Mask(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, pattern=r"^[a-z0-9][a-z0-9_.-]*$")
    description: str = ""
    shows: str = Field(default="", description="One line: what this mask shows about base models.")
    frame: str = Field(default="", description="The document preamble, before any turn.")
    user_name: str = "User"
    character_name: str = "Assistant"
    examples: list[HistoryTurn] = Field(default_factory=list)
    greeting: str = ""
    turn_format: str = Field(default="{name}: {text}\n", description="How one turn is written.")
    stop: list[str] = Field(default_factory=list, description="Extra stop sequences.")
    system_prompt: str | None = None
    tags: list[str] = Field(default_factory=list)
    author: str = ""
    version: str = "1"
    # Character-card fields with no place in the document, kept so an imported card exports unchanged.
    alternate_greetings: list[str] = Field(default_factory=list, description="Other first messages a card offers.")
    post_history_instructions: str | None = Field(default=None, description="A card's note to send after the chat.")
    card: dict[str, Any] | None = Field(default=None, description="The imported character card as it was.")
    card_image: str | None = Field(default=None, description="Base64 PNG of the imported card, card chunks removed.")

    @field_validator("turn_format")
    @classmethod
    def _turn_format_has_text(cls, value: str) -> str:
        if "{text}" not in value:
            raise ValueError("turn_format must contain {text}")
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
        parts = [self.fill(self.frame)]
        parts += [self.format_turn(turn.role, self.fill(turn.text)) for turn in self.examples]
        if self.greeting:
            parts.append(self.format_turn("character", self.fill(self.greeting)))
        return "".join(parts)

    def render(self, history: list[HistoryTurn]) -> str:
        """The exact document the simulator continues: preamble, turns, and the character's cue."""
        body = "".join(self.format_turn(turn.role, turn.text) for turn in history)
        return self.preamble() + body + self.turn_opening("character")

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


def load_mask_file(path: Path) -> Mask:
    """Read one mask TOML file.

    Raises:
        MaskError: the file is unreadable, not TOML, or has unknown or invalid keys (named).
    """
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as e:
        raise MaskError(f"cannot read mask file {path}: {e}") from e
    except tomllib.TOMLDecodeError as e:
        raise MaskError(f"mask file {path} is not valid TOML: {e}") from e
    data.setdefault("name", path.stem)
    try:
        return Mask.model_validate(data)
    except ValidationError as e:
        raise MaskError(f"mask file {path}: {describe_validation_error(e)}") from e


def describe_validation_error(error: ValidationError) -> str:
    """One line per problem, naming the field, e.g. `colour: unknown key`."""
    lines = []
    for problem in error.errors():
        where = ".".join(str(part) for part in problem["loc"]) or "(mask)"
        message = "unknown key" if problem["type"] == "extra_forbidden" else problem["msg"]
        lines.append(f"{where}: {message}")
    return "; ".join(lines)
