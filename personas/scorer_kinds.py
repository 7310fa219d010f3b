"""The one table of scorer kinds: for each, what it measures (a rate of pass/fail replies, a mean of a stored
metric, a likelihood of the document read without sampling, or a direction fitted to a run's replies as a whole),
the reply metric it reads, and the statistic an
expectation may test on it. Every grouping of kinds (the suite's validation, expectations, the runner, the
report) is derived from this table, so a new kind is added in one row."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Measure = Literal["rate", "mean", "likelihood", "direction"]
Stat = Literal["rate", "mean", "p"]


@dataclass(frozen=True)
class ScorerKind:
    """`metric`: the field of a reply's stored fidelity metrics it reads (asking for it makes the runner compute
    those metrics); `stat`: what an expectation tests on it, None when no expectation can (a choice is read from
    the report, not tested)."""

    measure: Measure
    metric: str | None = None
    stat: Stat | None = None


# In the order an unknown kind's error message lists them.
KINDS: dict[str, ScorerKind] = {
    "regex": ScorerKind("rate", stat="rate"),
    "contains": ScorerKind("rate", stat="rate"),
    "ended_by": ScorerKind("rate", metric="ended_by", stat="rate"),
    "in_character": ScorerKind("mean", metric="in_character_p", stat="mean"),
    "perplexity": ScorerKind("mean", metric="perplexity", stat="mean"),
    "mask_effect": ScorerKind("mean", metric="mask_effect", stat="mean"),
    "mean_entropy": ScorerKind("mean", metric="mean_entropy", stat="mean"),
    "max_surprisal": ScorerKind("mean", metric="max_surprisal", stat="mean"),
    "next_token": ScorerKind("likelihood", stat="p"),
    "choice": ScorerKind("likelihood"),
    "judge": ScorerKind("rate", stat="rate"),
    "mask_posterior": ScorerKind("rate", stat="rate"),
    "persona_direction": ScorerKind("direction"),
    "projection": ScorerKind("mean", stat="mean"),
}

SCORER_KINDS = tuple(KINDS)
RATE_KINDS = tuple(name for name, kind in KINDS.items() if kind.measure == "rate")
MEAN_KINDS = tuple(name for name, kind in KINDS.items() if kind.measure == "mean")
LIKELIHOOD_KINDS = tuple(name for name, kind in KINDS.items() if kind.measure == "likelihood")
DIRECTION_KINDS = tuple(name for name, kind in KINDS.items() if kind.measure == "direction")
METRIC_KINDS = tuple(name for name, kind in KINDS.items() if kind.metric is not None)
# A mean kind's value is its stored metric, as is.
MEAN_FIELDS = {name: kind.metric for name, kind in KINDS.items() if kind.measure == "mean" and kind.metric}
STAT_KINDS: dict[Stat, tuple[str, ...]] = {
    stat: tuple(name for name, kind in KINDS.items() if kind.stat == stat) for stat in ("rate", "mean", "p")
}
