"""Each sampled scorer of a suite as a small typed function of one saved reply (its text and stored metrics):
pass/fail scorers give a bool (counted as a rate), metric scorers a float (averaged), and None when the
reply has nothing to score (a chat reply has no fidelity metrics). `next_token`/`choice` score the document,
not a reply: see ui.service.experiments.cells; `persona_direction` and `projection` read activations once a run's
replies are drawn: see ui.service.experiments.directions."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from personas.scorer_kinds import DIRECTION_KINDS, LIKELIHOOD_KINDS, MEAN_FIELDS
from personas.suites import EndedByScorer, MetricScorer, Suite, TextScorer

Score = bool | float | None
# Scored once the run's replies are drawn (a projection may need the direction this very run fits).
AFTER_DRAWING = (*DIRECTION_KINDS, "projection")


def text_score(scorer: TextScorer, text: str) -> bool:
    """regex: the pattern is found; contains: any of the strings occurs. Case-insensitive unless the scorer is
    `case_sensitive`; with `first_line`, only the first non-empty line of the reply counts."""
    if scorer.first_line:
        text = next((line for line in text.splitlines() if line.strip()), "")
    flags = 0 if scorer.case_sensitive else re.IGNORECASE
    if scorer.kind == "regex":
        assert scorer.pattern is not None
        return re.search(scorer.pattern, text, flags | re.MULTILINE) is not None
    haystack = text if scorer.case_sensitive else text.casefold()
    needles = [t if scorer.case_sensitive else t.casefold() for t in scorer.text or []]
    return any(needle in haystack for needle in needles)


def ended_by_score(scorer: EndedByScorer, metrics: Mapping[str, Any] | None, finish_reason: str | None) -> bool | None:
    """Whether the reply ended one of the scorer's ways. Base replies record how (`ended_by`); a chat reply
    counts as `length` when it hit the limit and `natural` otherwise."""
    ended = (metrics or {}).get("ended_by")
    if ended is None:
        if finish_reason is None:
            return None
        ended = "length" if finish_reason == "length" else "natural"
    return ended in scorer.ended


def metric_score(scorer: MetricScorer, metrics: Mapping[str, Any] | None) -> float | None:
    value = (metrics or {}).get(MEAN_FIELDS[scorer.kind])
    return float(value) if isinstance(value, int | float) else None


def score_reply(
    suite: Suite, text: str, metrics: Mapping[str, Any] | None, finish_reason: str | None
) -> dict[str, Score]:
    """Every sampled scorer of `suite` on one reply, by scorer name; a judge scorer is None here (it needs a
    model call: see ui.service.experiments.judges), and the activation scorers are left out until computed."""
    scores: dict[str, Score] = {}
    for scorer in sampled_scorers(suite):
        if scorer.kind in AFTER_DRAWING:
            continue
        if isinstance(scorer, TextScorer):
            scores[scorer.name] = text_score(scorer, text)
        elif isinstance(scorer, EndedByScorer):
            scores[scorer.name] = ended_by_score(scorer, metrics, finish_reason)
        elif isinstance(scorer, MetricScorer):
            scores[scorer.name] = metric_score(scorer, metrics)
        else:
            scores[scorer.name] = None
    return scores


def sampled_scorers(suite: Suite) -> list[Any]:
    """The scorers that need sampled replies; a suite with none draws no samples."""
    return [s for s in suite.scorers if s.kind not in LIKELIHOOD_KINDS]


def figure_scorers(suite: Suite) -> list[Any]:
    """The sampled scorers a report gives a rate or a mean for, per lane and cell (a direction is the run's)."""
    return [s for s in sampled_scorers(suite) if s.kind not in DIRECTION_KINDS]


def likelihood_scorers(suite: Suite) -> list[Any]:
    return [s for s in suite.scorers if s.kind in LIKELIHOOD_KINDS]
