"""A suite's expectations, written as one line each, e.g. `lane "base@raw" rate("continues_quiz") >= 0.5`.

    lane "SPEC" rate("SCORER") OP NUMBER            a pass/fail scorer's rate (Wilson interval)
    lane "SPEC" mean("SCORER") OP NUMBER            a metric's mean (bootstrap interval)
    lane "SPEC" p("SCORER", "TEXT") OP NUMBER       a next_token probability (exact: no sampling)
    lane "SPEC" p("SCORER", "TEXT") OP p("SCORER", "OTHER")

OP is one of >=, >, <=, <. Over several prompts a lane's samples are pooled (rate, mean) or its
probabilities averaged (p); `lane "SPEC" prompt N ...` (N from 1) measures that prompt's cell alone."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Literal

from pydantic import BaseModel, ConfigDict

from personas.scorer_kinds import STAT_KINDS, Stat

Op = Literal[">=", ">", "<=", "<"]

_STRING = r'"(?:[^"\\]|\\.)*"'
_TERM = rf"(?P<stat{{n}}>rate|mean|p)\(\s*(?P<scorer{{n}}>{_STRING})\s*(?:,\s*(?P<text{{n}}>{_STRING})\s*)?\)"
_LINE = re.compile(
    rf"^\s*lane\s+(?P<lane>{_STRING})\s+(?:prompt\s+(?P<prompt>\d+)\s+)?{_TERM.format(n=1)}\s*(?P<op>>=|>|<=|<)\s*"
    rf"(?:(?P<number>-?\d+(?:\.\d+)?(?:e-?\d+)?)|{_TERM.format(n=2)})\s*$"
)


class Term(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    stat: Stat
    scorer: str
    text: str | None = None


class Expectation(BaseModel):
    """One tested statement; `text` is how it was written. The right side is `threshold` or `other`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    text: str
    lane: str
    prompt: int | None = None  # 1-based: only this prompt's cell; None pools the lane's prompts
    left: Term
    op: Op
    threshold: float | None = None
    other: Term | None = None

    def check(self, kinds: Mapping[str, str], lanes: list[str], prompts: int) -> None:
        """Raises ValueError: it names a lane, prompt or scorer the suite lacks, or a statistic its scorer has
        not."""
        if self.lane not in lanes:
            raise ValueError(f"expectation {self.text!r}: the suite has no lane {self.lane!r}")
        if self.prompt is not None and not 1 <= self.prompt <= prompts:
            raise ValueError(f"expectation {self.text!r}: the suite has prompts 1 to {prompts}, not {self.prompt}")
        for term in (self.left, self.other):
            if term is None:
                continue
            kind = kinds.get(term.scorer)
            if kind is None:
                raise ValueError(f"expectation {self.text!r}: the suite has no scorer {term.scorer!r}")
            if kind not in STAT_KINDS[term.stat]:
                raise ValueError(f"expectation {self.text!r}: {term.stat}() does not apply to a {kind} scorer")
            if (term.stat == "p") != (term.text is not None):
                raise ValueError(
                    f"expectation {self.text!r}: p() takes a scorer and a continuation; rate/mean a scorer"
                )
        if self.other is not None and (self.left.stat != "p" or self.other.stat != "p"):
            raise ValueError(f"expectation {self.text!r}: only p() can be compared with p()")


def parse_expectation(text: str) -> Expectation:
    """Raises ValueError: the line is not of the documented form."""
    match = _LINE.match(text)
    if not match:
        raise ValueError(
            f'cannot read expectation {text!r}: write e.g. lane "base@raw" rate("scorer") >= 0.5'
            ' (or mean(...), p("scorer", "continuation"); `lane "base@raw" prompt 2 ...` for one prompt)'
        )
    left = _term(match, 1)
    other = _term(match, 2) if match["stat2"] else None
    threshold = float(match["number"]) if match["number"] else None
    return Expectation(
        text=text.strip(),
        lane=json.loads(match["lane"]),
        prompt=int(match["prompt"]) if match["prompt"] else None,
        left=left,
        op=match["op"],
        threshold=threshold,
        other=other,
    )


def _term(match: re.Match[str], n: int) -> Term:
    text = match[f"text{n}"]
    return Term(stat=match[f"stat{n}"], scorer=json.loads(match[f"scorer{n}"]), text=json.loads(text) if text else None)
