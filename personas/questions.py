"""Question sets for blind review: the structured questions a reviewer answers about a pair of replies beside
"which is better?". A set is a small TOML file; the built-in `default` ships in personas/questions/, a user's
own live in a folder of their data directory and can be edited like masks."""

from __future__ import annotations

import re
import tomllib
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from personas.names import is_name

__all__ = [
    "ANSWERS",
    "DEFAULT_SET",
    "Answer",
    "Question",
    "QuestionSet",
    "QuestionSetError",
    "builtin_questions_dir",
    "list_question_sets",
    "load_question_set",
    "parse_question_set",
    "save_question_set",
]

Answer = Literal["left", "right", "both", "neither"]
ANSWERS: tuple[Answer, ...] = ("left", "right", "both", "neither")
DEFAULT_SET = "default"
MAX_FILE_BYTES = 64 * 1024  # a set is a handful of lines; anything larger is not one
_KEY = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
MAX_SET_NAME = 64  # every vote stores its set's name, in a column of this width


class QuestionSetError(ValueError):
    """A question set that cannot be found, read or validated; the message names the file and the field."""


class Question(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    key: str  # what --answer KEY=left names
    text: str = Field(min_length=1, max_length=200)

    @field_validator("key")
    @classmethod
    def _key(cls, value: str) -> str:
        if not _KEY.fullmatch(value):
            raise ValueError(f"{value!r} is not a question key: lower-case letters, digits and _, a letter first")
        return value


class QuestionSet(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    description: str = ""
    questions: tuple[Question, ...] = Field(default=(), max_length=20)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not is_name(value) or len(value) > MAX_SET_NAME:
            raise ValueError(f"{value!r} is not a set name: lower-case letters, digits, '-', '_' and '.'")
        return value

    @field_validator("questions")
    @classmethod
    def _unique(cls, value: tuple[Question, ...]) -> tuple[Question, ...]:
        keys = [q.key for q in value]
        twice = sorted({k for k in keys if keys.count(k) > 1})
        if twice:
            raise ValueError(f"question key {twice[0]!r} is used twice")
        return value

    def keys(self) -> list[str]:
        return [q.key for q in self.questions]

    def check_answers(self, answers: dict[str, str]) -> dict[str, str]:
        """The answers, each a known key with left, right, both or neither.

        Raises QuestionSetError naming the first unknown key or value.
        """
        for key, value in answers.items():
            if key not in self.keys():
                known = ", ".join(self.keys()) or "none"
                raise QuestionSetError(f"question set {self.name!r} has no question {key!r} (its questions: {known})")
            if value not in ANSWERS:
                raise QuestionSetError(f"answer {value!r} to {key!r} is not one of {', '.join(ANSWERS)}")
        return dict(answers)


def _problems(error: ValidationError) -> str:
    parts = []
    for problem in error.errors():
        where = ".".join(str(p) for p in problem["loc"]) or "the set"
        message = problem["msg"].removeprefix("Value error, ")
        if problem["type"] == "extra_forbidden":
            message = "unknown key"
        parts.append(f"{where}: {message}")
    return "; ".join(parts)


def parse_question_set(text: str, source: str) -> QuestionSet:
    """A question set from TOML text. Raises QuestionSetError naming `source` and what is wrong."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise QuestionSetError(f"{source}: not valid TOML: {e}") from e
    try:
        return QuestionSet.model_validate(data)
    except ValidationError as e:
        raise QuestionSetError(f"{source}: not a valid question set: {_problems(e)}") from e


def _read(path: Path) -> QuestionSet:
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            raise QuestionSetError(f"{path}: larger than {MAX_FILE_BYTES // 1024} KB, not a question set")
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as e:
        raise QuestionSetError(f"{path}: not UTF-8 text") from e
    except OSError as e:
        raise QuestionSetError(f"cannot read {path}: {e.strerror or e}") from e
    return parse_question_set(text, str(path))


def builtin_questions_dir() -> Path:
    return Path(__file__).resolve().parent / "questions"


@lru_cache(maxsize=1)
def _builtins() -> dict[str, QuestionSet]:
    return {s.name: s for s in (_read(p) for p in sorted(builtin_questions_dir().glob("*.toml")))}


def list_question_sets(user_dir: Path | None) -> list[QuestionSet]:
    """The built-in sets, then the user's (a user's file under a built-in's name is left out); a broken user
    file raises QuestionSetError naming it."""
    found = dict(_builtins())
    if user_dir is not None and user_dir.is_dir():
        for path in sorted(user_dir.glob("*.toml")):
            question_set = _read(path)
            found.setdefault(question_set.name, question_set)
    return list(found.values())


def load_question_set(name: str, user_dir: Path | None) -> QuestionSet:
    """Raises QuestionSetError when there is no set of that name (or its file is broken)."""
    for question_set in list_question_sets(user_dir):
        if question_set.name == name:
            return question_set
    known = ", ".join(s.name for s in list_question_sets(user_dir))
    raise QuestionSetError(f"no question set {name!r} (there are: {known})")


def save_question_set(text: str, source: str, user_dir: Path) -> QuestionSet:
    """Check TOML text completely, then save it as `<name>.toml` in `user_dir` (replacing the user's own set of
    that name). Raises QuestionSetError for an invalid set or a built-in's name; nothing is written then."""
    question_set = parse_question_set(text, source)
    if question_set.name in _builtins():
        raise QuestionSetError(f"{source}: {question_set.name!r} is a built-in set: give yours another name")
    try:
        user_dir.mkdir(parents=True, exist_ok=True)
        (user_dir / f"{question_set.name}.toml").write_text(text, encoding="utf-8")
    except OSError as e:
        raise QuestionSetError(f"cannot write to {user_dir}: {e.strerror or e}") from e
    return question_set
