"""The review leaderboard from saved judgements: Bradley–Terry strengths per lane label, model or mask with
bootstrap intervals, each structured question's rate, position bias and agreement between reviewers. Pure: it
takes judgement rows and returns a typed read model, so the benchmark runs it without a database."""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Literal

import numpy as np
from pydantic import BaseModel
from threadpoolctl import threadpool_limits

from storage.judgements import JudgementRow, ReplyIdentity
from ui.service.statistics.ranking import bootstrap_strengths, cohen_kappa, fleiss_kappa
from ui.service.statistics.rates import wilson

__all__ = ["BY", "Agreement", "Entry", "Leaderboard", "PositionBias", "Rate", "By", "build_leaderboard", "group_of"]

By = Literal["lane", "model", "mask"]
BY: tuple[By, ...] = ("lane", "model", "mask")
NO_MASK = "(no mask)"
# A "both bad" vote says the two are equally (un)acceptable: it counts as a tie, as Chatbot Arena counts it.
_SCORE = {"left": 1.0, "right": 0.0, "tie": 0.5, "bad": 0.5}


class Rate(BaseModel):
    rate: float | None  # None: no trials
    low: float
    high: float
    count: int
    trials: int


class Entry(BaseModel):
    name: str
    strength: float  # Bradley–Terry log-strength, mean 0 over the entries
    low: float
    high: float
    votes: int  # votes against another entry
    wins: int
    ties: int
    losses: int
    questions: dict[str, Rate]  # question key -> how often this entry's reply was named


class PositionBias(BaseModel):
    """The left reply's share of the votes that chose one (1/2: no bias)."""

    left_wins: Rate


class Agreement(BaseModel):
    method: Literal["cohen", "fleiss"] | None  # None: no pair has votes from two reviewers or more
    kappa: float | None
    pairs: int
    reviewers: int


class Leaderboard(BaseModel):
    by: By
    judgements: int
    resamples: int
    entries: list[Entry]
    position_bias: PositionBias
    agreement: Agreement


def group_of(reply: ReplyIdentity, by: By) -> str:
    if by == "lane":
        return reply.label
    if by == "model":
        return reply.model
    return reply.mask or NO_MASK


def _rate(count: int, trials: int) -> Rate:
    interval = wilson(count, trials)
    if interval is None:
        return Rate(rate=None, low=0.0, high=1.0, count=count, trials=trials)
    return Rate(rate=interval.value, low=interval.low, high=interval.high, count=count, trials=trials)


def _question_rates(rows: list[JudgementRow], by: By) -> dict[str, dict[str, Rate]]:
    named: dict[tuple[str, str], int] = defaultdict(int)
    trials: dict[tuple[str, str], int] = defaultdict(int)
    for row in rows:
        for key, answer in row.answers.items():
            for side, reply in (("left", row.left), ("right", row.right)):
                group = group_of(reply, by)
                trials[(group, key)] += 1
                named[(group, key)] += answer in (side, "both")
    rates: dict[str, dict[str, Rate]] = defaultdict(dict)
    for (group, key), n in trials.items():
        rates[group][key] = _rate(named[(group, key)], n)
    return rates


def _agreement(rows: list[JudgementRow]) -> Agreement:
    # Labels relative to the pair, not to the screen: two reviewers may have seen it in opposite orders.
    labels: dict[str, dict[str, str]] = defaultdict(dict)
    for row in rows:
        label = row.better
        if label in ("left", "right"):
            winner = row.left if label == "left" else row.right
            label = "first" if winner.message_id == min(row.left.message_id, row.right.message_id) else "second"
        labels[row.pair][row.reviewer] = label
    shared = {pair: votes for pair, votes in labels.items() if len(votes) >= 2}
    reviewers = sorted({reviewer for votes in shared.values() for reviewer in votes})
    if not shared:
        return Agreement(method=None, kappa=None, pairs=0, reviewers=0)
    if len(reviewers) == 2:
        a, b = reviewers
        kappa = cohen_kappa([v[a] for v in shared.values()], [v[b] for v in shared.values()])
        method: Literal["cohen", "fleiss"] = "cohen"
    else:
        categories = ["first", "second", "tie", "bad"]
        table = [[list(votes.values()).count(c) for c in categories] for votes in shared.values()]
        kappa, method = fleiss_kappa(table), "fleiss"
    return Agreement(
        method=method, kappa=None if math.isnan(kappa) else kappa, pairs=len(shared), reviewers=len(reviewers)
    )


def build_leaderboard(
    rows: list[JudgementRow], by: By = "lane", *, resamples: int = 1000, seed: int = 0
) -> Leaderboard:
    """The leaderboard of these judgements; entries strongest first."""
    names = sorted({group_of(reply, by) for row in rows for reply in (row.left, row.right)})
    index = {name: i for i, name in enumerate(names)}
    first, second, score = [], [], []
    tally: dict[str, list[int]] = {name: [0, 0, 0] for name in names}  # wins, ties, losses
    for row in rows:
        left, right = index[group_of(row.left, by)], index[group_of(row.right, by)]
        if left == right:
            continue  # two samples of one entry say nothing about its strength
        first.append(left)
        second.append(right)
        score.append(_SCORE[row.better])
        outcome = {"left": (0, 2), "right": (2, 0)}.get(row.better, (1, 1))
        tally[names[left]][outcome[0]] += 1
        tally[names[right]][outcome[1]] += 1
    # One BLAS thread: on a small machine its threads would fight the model's decode threads and each other, and
    # under load a 500-item solve took ten times as long with two of them as with one (bench/review.py).
    with threadpool_limits(limits=1, user_api="blas"):
        strengths = bootstrap_strengths(
            np.array(first, dtype=np.int64), np.array(second, dtype=np.int64), np.array(score), len(names),
            resamples=resamples, seed=seed,
        )  # fmt: skip
    rates = _question_rates(rows, by)
    entries = [
        Entry(
            name=name,
            strength=float(strengths.estimate[i]),
            low=float(strengths.low[i]),
            high=float(strengths.high[i]),
            votes=sum(tally[name]),
            wins=tally[name][0],
            ties=tally[name][1],
            losses=tally[name][2],
            questions=rates.get(name, {}),
        )
        for i, name in enumerate(names)
    ]
    entries.sort(key=lambda e: (-e.strength, e.name))
    decisive = [row.better for row in rows if row.better in ("left", "right")]
    return Leaderboard(
        by=by,
        judgements=len(rows),
        resamples=resamples,
        entries=entries,
        position_bias=PositionBias(left_wins=_rate(decisive.count("left"), len(decisive))),
        agreement=_agreement(rows),
    )
