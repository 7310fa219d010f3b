"""The `mask_posterior` scorer: who is speaking in each sampled reply (`ui.service.inside.whois`), and a run's
confusion matrix: the mask each lane wore (rows) against the mask the posterior names (columns), with the accuracy
and its Wilson interval."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from personas.catalog import load_mask
from personas.mask import HistoryTurn, Mask
from personas.suites import MaskPosteriorScorer, Suite
from simulator.registry import Registry
from storage.tables import Lane
from storage.tables.experiments import RunSample
from ui.service.experiments.report_models import Confusion, RateFigure
from ui.service.inside.whois import default_simulator, score
from ui.service.statistics.rates import wilson

POSTERIORS_KEY = "_posteriors"  # in a sample's scores: what each mask_posterior scorer guessed, and from what


def posterior_scorers(suite: Suite) -> list[MaskPosteriorScorer]:
    return [s for s in suite.scorers if isinstance(s, MaskPosteriorScorer)]


def scorer_masks(suite: Suite, scorer: MaskPosteriorScorer, masks_dir: Path | None) -> list[Mask]:
    """The scorer's masks: the suite's own first, then the library's.

    Raises:
        MaskError: a mask is neither (the message lists the library's).
    """
    own = {mask.name: mask for mask in suite.masks}
    return [own.get(name) or load_mask(name, masks_dir) for name in scorer.masks]


def score_posteriors(
    registry: Registry, suite: Suite, masks_dir: Path | None, lane: Lane, history: list[HistoryTurn], text: str
) -> dict[str, Any]:
    """Each mask_posterior scorer on one reply: True when the likeliest mask is the one its lane wore (None: the lane
    wore none of the scorer's masks, or the reply is empty), and under POSTERIORS_KEY the guess and every posterior."""
    scorers = posterior_scorers(suite)
    if not scorers:
        return {}
    scores: dict[str, Any] = {}
    records: dict[str, Any] = {}
    for scorer in scorers:
        if not text.strip():
            scores[scorer.name] = None
            continue
        model = scorer.model or (lane.model if lane.kind == "simulator" else default_simulator(registry))
        result = score(registry, model, scorer_masks(suite, scorer, masks_dir), history, text.strip())
        guess = result.masks[0].mask
        scores[scorer.name] = guess == lane.mask_name if lane.mask_name in scorer.masks else None
        posteriors = {reading.mask: round(reading.posterior, 6) for reading in result.masks}
        records[scorer.name] = {"worn": lane.mask_name, "guess": guess, "posteriors": posteriors}
    return {**scores, POSTERIORS_KEY: records}


def confusions(suite: Suite, samples: Sequence[RunSample]) -> list[Confusion]:
    """Each mask_posterior scorer over the run's samples: counts of (worn, guessed) and the accuracy."""
    out = []
    for scorer in posterior_scorers(suite):
        rows = {worn: dict.fromkeys(scorer.masks, 0) for worn in scorer.masks}
        for sample in samples:
            record = (sample.scores.get(POSTERIORS_KEY) or {}).get(scorer.name)
            if record and record.get("worn") in rows and record.get("guess") in rows:
                rows[record["worn"]][record["guess"]] += 1
        right = sum(rows[m][m] for m in scorer.masks)
        n = sum(sum(row.values()) for row in rows.values())
        interval = wilson(right, n)
        accuracy = RateFigure(
            kind=scorer.kind,
            rate=None if interval is None else round(interval.value, 6),
            low=None if interval is None else round(interval.low, 6),
            high=None if interval is None else round(interval.high, 6),
            n=n,
            successes=right,
        )
        out.append(Confusion(scorer=scorer.name, masks=list(scorer.masks), rows=rows, accuracy=accuracy))
    return out
