"""Experiment suites (issue 12): prompts x lanes x seeded samples x scorers, and the expectations they test.
A suite is a TOML file validated here (unknown keys named); built-ins ship in `personas/suite_library/`, the user's
own live in the data folder. Which models and masks exist is checked later, by the service that has them."""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from personas.bounded import parse_toml, read_limited
from personas.errors import MaskError
from personas.mask import HistoryTurn, Mask, describe_validation_error
from personas.names import LANE_SPEC, NAME, NAME_PATTERN
from personas.scorer_kinds import SCORER_KINDS
from personas.suite_directions import PersonaDirectionScorer, ProjectionScorer, check_directions
from personas.suite_expectations import Expectation, parse_expectation

__all__ = [
    "MAX_SAMPLES",
    "Expectation",
    "JudgeScorer",
    "MaskPosteriorScorer",
    "PersonaDirectionScorer",
    "ProjectionScorer",
    "Prompt",
    "Scorer",
    "Suite",
    "SuiteError",
    "list_suites",
    "load_suite",
    "load_suite_file",
    "parse_suite_toml",
]

MAX_SAMPLES = 1000


class SuiteError(MaskError):
    """A suite that cannot be found, parsed or validated; the message names the file and the field."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Prompt(_Strict):
    """One prompt: a single user message (`text`), a short history ending with a user turn (`turns`), or a
    bare `document` that base lanes continue exactly as written, whatever their mask (chat lanes get it as
    the user's message)."""

    text: str | None = None
    turns: list[HistoryTurn] | None = None
    document: str | None = None

    @model_validator(mode="after")
    def _one_form(self) -> Prompt:
        if sum(form is not None for form in (self.text, self.turns, self.document)) != 1:
            raise ValueError("give exactly one of `text`, `turns` or `document`")
        if self.turns is not None and (not self.turns or self.turns[-1].role != "user"):
            raise ValueError("`turns` must end with a user turn")
        return self

    @property
    def history(self) -> list[HistoryTurn]:
        if self.turns is not None:
            return list(self.turns)
        return [HistoryTurn(role="user", text=self.text if self.text is not None else self.document or "")]

    @property
    def last(self) -> str:
        return self.history[-1].text


class Sampling(_Strict):
    """The sampling settings every lane of the suite runs with; seeds come from the suite's `seed`."""

    temperature: float = Field(default=0.8, ge=0.0, le=2.0)
    top_p: float = Field(default=0.95, gt=0.0, le=1.0)
    top_k: int = Field(default=40, ge=0)
    max_tokens: int = Field(default=48, ge=1, le=4096)
    stop: list[str] = Field(default_factory=list)


class _ScorerBase(_Strict):
    name: str = Field(pattern=NAME_PATTERN, description="How results and expectations name it.")
    description: str = ""


class TextScorer(_ScorerBase):
    """`regex`: the pattern is found in the reply. `contains`: any of `text` occurs in it. Both case-insensitive
    unless `case_sensitive`; with `first_line`, only the reply's first non-empty line is searched."""

    kind: Literal["regex", "contains"]
    pattern: str | None = None
    text: list[str] | None = None
    case_sensitive: bool = False
    first_line: bool = False

    @model_validator(mode="after")
    def _checked(self) -> TextScorer:
        if self.kind == "regex":
            if self.pattern is None or self.text is not None:
                raise ValueError(f"scorer {self.name!r}: a regex scorer takes `pattern` (and no `text`)")
            try:
                re.compile(self.pattern)
            except re.error as e:
                raise ValueError(f"scorer {self.name!r}: the regex {self.pattern!r} does not compile: {e}") from e
        elif not self.text or self.pattern is not None:
            raise ValueError(f"scorer {self.name!r}: a contains scorer takes `text` (a list of strings)")
        return self


class EndedByScorer(_ScorerBase):
    """`ended_by`: the reply ended in one of `ended` (user_turn: it began the user's turn; natural; length)."""

    kind: Literal["ended_by"]
    ended: list[Literal["user_turn", "natural", "length"]] = Field(min_length=1)


class MetricScorer(_ScorerBase):
    """A stored fidelity metric of a base-lane reply, averaged: `in_character` (P(the character's tag)),
    `perplexity`, `mask_effect`, `mean_entropy` (the reply's mean token entropy, nats) and `max_surprisal` (its
    least likely token's −ln p). Chat replies have none and are left out of the mean."""

    kind: Literal["in_character", "perplexity", "mask_effect", "mean_entropy", "max_surprisal"]


class LikelihoodScorer(_ScorerBase):
    """`next_token`: P(each continuation | the lane's document), the product of its tokens' probabilities.
    `choice`: which of the continuations is most likely. One forward pass each, no sampling; base lanes only."""

    kind: Literal["next_token", "choice"]
    continuations: list[str] = Field(min_length=1)

    @model_validator(mode="after")
    def _checked(self) -> LikelihoodScorer:
        if self.kind == "choice" and len(self.continuations) < 2:
            raise ValueError(f"scorer {self.name!r}: a choice scorer needs at least two continuations")
        if any(not c for c in self.continuations):
            raise ValueError(f"scorer {self.name!r}: a continuation is empty")
        return self


class JudgeScorer(_ScorerBase):
    """`judge`: a chat model (`model`: a configured model's name or a litellm string) answers `rubric`, a yes/no
    question, about each reply; counted as the rate of "yes". It calls a model for every sample, maybe a paid
    one, so it runs only when a run turns judges on; the judge's model and reply are kept with the score."""

    kind: Literal["judge"]
    model: str = Field(min_length=1)
    rubric: str = Field(min_length=1, max_length=4000)


class MaskPosteriorScorer(_ScorerBase):
    """`mask_posterior`: who is speaking? Each reply is scored under every mask of `masks` (its likelihood after each
    mask's document, by `model` or the lane's base model); the mask with the highest posterior is the guess, counted
    as the rate of replies whose guess is the mask their lane wore. The report adds the confusion matrix."""

    kind: Literal["mask_posterior"]
    masks: list[str] = Field(min_length=2, max_length=8)
    model: str | None = None

    @field_validator("masks")
    @classmethod
    def _distinct(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("a mask is listed twice")
        return value


_SCORER_CLASSES = (
    TextScorer,
    EndedByScorer,
    MetricScorer,
    LikelihoodScorer,
    JudgeScorer,
    MaskPosteriorScorer,
    PersonaDirectionScorer,
    ProjectionScorer,
)
Scorer = Annotated[
    TextScorer
    | EndedByScorer
    | MetricScorer
    | LikelihoodScorer
    | JudgeScorer
    | MaskPosteriorScorer
    | PersonaDirectionScorer
    | ProjectionScorer,
    Field(discriminator="kind"),
]
# The classes' `kind` literals are what pydantic reads; the table in personas.scorer_kinds is what everything else
# groups by. A kind in one and not the other would be accepted and then scored by no rule, so it fails on import.
if {k for c in _SCORER_CLASSES for k in get_args(c.model_fields["kind"].annotation)} != set(SCORER_KINDS):
    raise ImportError("the scorer classes' kinds differ from personas.scorer_kinds.KINDS")


class Suite(_Strict):
    name: str = Field(pattern=NAME_PATTERN)
    description: str = ""
    claim: str = Field(default="", description="The sentence being tested, with where it comes from.")
    lanes: list[str] = Field(min_length=1)
    # Masks of the suite's own, found before the library's by lanes that name them (e.g. `base@songbird`).
    masks: list[Mask] = Field(default_factory=list)
    prompts: list[Prompt] = Field(min_length=1)
    samples: int = Field(default=10, ge=1, le=MAX_SAMPLES)
    seed: int = Field(default=0, ge=0, le=2**32 - 1 - MAX_SAMPLES)
    settings: Sampling = Sampling()
    scorers: list[Scorer] = Field(min_length=1)
    expectations: list[Expectation] = Field(default_factory=list)

    @field_validator("scorers", mode="before")
    @classmethod
    def _known_kinds(cls, value: Any) -> Any:
        for i, scorer in enumerate(value if isinstance(value, list) else []):
            kind = scorer.get("kind") if isinstance(scorer, dict) else None
            if kind not in SCORER_KINDS:
                raise ValueError(f"scorer {i + 1}: unknown scorer kind {kind!r}; known: {', '.join(SCORER_KINDS)}")
        return value

    @field_validator("lanes")
    @classmethod
    def _lane_specs(cls, value: list[str]) -> list[str]:
        for spec in value:
            match = LANE_SPEC.match(spec)
            if not match:
                raise ValueError(f"cannot read lane {spec!r}: write MODEL or MODEL@MASK, e.g. base@assistant")
            if match["contrast"]:
                raise ValueError(f"lane {spec!r} is a contrast lane: those run in conversations, not in suites")
        if len(set(value)) != len(value):
            raise ValueError("a lane is listed twice")
        return value

    @field_validator("expectations", mode="before")
    @classmethod
    def _parse_expectations(cls, value: Any) -> Any:
        return [parse_expectation(v) if isinstance(v, str) else v for v in value] if isinstance(value, list) else value

    @model_validator(mode="after")
    def _consistent(self) -> Suite:
        names = [s.name for s in self.scorers]
        if len(set(names)) != len(names):
            raise ValueError("two scorers have the same name")
        kinds = {s.name: s.kind for s in self.scorers}
        for e in self.expectations:
            e.check(kinds, self.lanes, len(self.prompts))
        check_directions(self.name, self.lanes, len(self.prompts), self.scorers)
        return self

    def scorer(self, name: str) -> Any:
        return next(s for s in self.scorers if s.name == name)

    def with_run_options(self, *, samples: int | None = None, lanes: list[str] | None = None) -> Suite:
        """This suite with a run's own samples and lanes, validated again (so `samples = 0` is refused).

        Raises:
            SuiteError: the result is not a valid suite.
        """
        data = self.model_dump(mode="json", exclude_none=True)
        data["expectations"] = [e.text for e in self.expectations if lanes is None or e.lane in lanes]
        if samples is not None:
            data["samples"] = samples
        if lanes:
            data["lanes"] = lanes
        return _validated(data, f"suite {self.name!r}")


def builtin_dir() -> Path:
    return Path(__file__).resolve().parent / "suite_library"


def parse_suite_toml(text: str, where: str, default_name: str | None = None) -> Suite:
    """A suite from the text of a TOML file; `where` names it in errors.

    Raises:
        SuiteError: not TOML, too big or deep, or an unknown key, scorer kind or an invalid value (named).
    """
    try:
        data = parse_toml(text, where)
    except MaskError as e:
        raise SuiteError(str(e).replace("mask file", "suite file")) from e
    if default_name is not None:
        data.setdefault("name", default_name)
    return _validated(data, f"suite file {where}")


def _validated(data: dict[str, Any], where: str) -> Suite:
    try:
        return Suite.model_validate(data)
    except ValidationError as e:
        raise SuiteError(f"{where}: {describe_validation_error(e).replace('(mask)', '(suite)')}") from e


def load_suite_file(path: Path) -> Suite:
    """Raises: SuiteError: unreadable, not UTF-8, or not a valid suite."""
    try:
        data = read_limited(path, "suite file", str(path))
        text = data.decode("utf-8").removeprefix("\ufeff")
    except (MaskError, OSError) as e:
        raise SuiteError(f"cannot read suite file {path}: {e}") from e
    except UnicodeDecodeError as e:
        raise SuiteError(f"suite file {path} is not UTF-8 text: {e}") from e
    return parse_suite_toml(text, str(path), default_name=path.stem)


@lru_cache(maxsize=1)
def _builtins() -> dict[str, Suite]:
    return {path.stem: load_suite_file(path) for path in sorted(builtin_dir().glob("*.toml"))}


def list_suites(user_dir: Path | None = None) -> tuple[list[Suite], list[SuiteError]]:
    """Built-in suites, then the user's (`user_dir/*.toml`, never shadowing a built-in), and why any user file
    was left out."""
    suites = [_builtins()[name] for name in sorted(_builtins())]
    problems: list[SuiteError] = []
    if user_dir is not None and user_dir.is_dir():
        for path in sorted(user_dir.glob("*.toml")):
            if path.stem in _builtins():
                problems.append(SuiteError(f"suite file {path} has the name of a built-in suite; rename it"))
                continue
            try:
                suites.append(load_suite_file(path))
            except SuiteError as e:
                problems.append(e)
    return suites, problems


def load_suite(name_or_path: str, user_dir: Path | None = None) -> Suite:
    """A built-in suite, a user suite by name, or a suite file by path (anything ending in `.toml`).

    Raises:
        SuiteError: no such suite (the available ones are listed), or its file is broken.
    """
    if name_or_path.endswith(".toml") or "/" in name_or_path:
        return load_suite_file(Path(name_or_path))
    if name_or_path in _builtins():
        return _builtins()[name_or_path]
    if user_dir is not None and NAME.match(name_or_path) and (user_dir / f"{name_or_path}.toml").is_file():
        return load_suite_file(user_dir / f"{name_or_path}.toml")
    available = ", ".join(s.name for s in list_suites(user_dir)[0])
    raise SuiteError(f"unknown suite {name_or_path!r}; available: {available} (or give a .toml file)")
