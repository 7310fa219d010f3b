"""The activation scorers of a run, computed from its stored replies once they are drawn: `persona_direction` fits
the direction between two masks and stores it under the suite's name (ui.service.vectors), and `projection`
measures each reply along a direction. Activations are never stored: each reply is read again after the document
it was written after (the reply keeps it), and a capture repeats bit for bit, so resume and replay recompute
them. A run whose steered lanes use its own direction draws them only once the direction is stored."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy.engine import Engine
from sqlmodel import Session

from personas.suite_directions import PersonaDirectionScorer, ProjectionScorer, lane_mask, steered_by
from personas.suites import Suite
from simulator.registry import Registry
from storage import experiments as store
from storage import repo
from ui.service.errors import ServiceError
from ui.service.experiments.direction_fit import Fit, Reading, fit_direction, projections


@dataclass(frozen=True)
class StoredReply:
    """A linked sample with what reading it again needs: its lane's spec and model, prompt, document and text."""

    sample_id: int
    lane: str
    model: str
    kind: str
    prompt_index: int
    document: str | None
    text: str
    scores: dict[str, Any]


def fitting_scorer(suite: Suite) -> PersonaDirectionScorer | None:
    return next((s for s in suite.scorers if isinstance(s, PersonaDirectionScorer)), None)


def projection_scorers(suite: Suite) -> list[ProjectionScorer]:
    return [s for s in suite.scorers if isinstance(s, ProjectionScorer)]


def waits_for_direction(suite: Suite, lane: str) -> bool:
    """Whether a lane steers with the direction this very suite fits (so it is drawn after the fit)."""
    return fitting_scorer(suite) is not None and steered_by(lane) == suite.name


def stored_replies(engine: Engine, run_id: int) -> list[StoredReply]:
    """Every linked sample of the run with its lane, document and text."""
    with Session(engine) as session:
        cells = {c.id: c for c in store.list_cells(session=session, run_id=run_id)}
        lanes: dict[int, Any] = {}
        messages: dict[int, Any] = {}
        for cell in cells.values():
            if cell.conversation_id is not None and cell.id is not None:
                lanes[cell.id] = repo.list_lanes(session=session, conversation_id=cell.conversation_id)[0]
                for row in repo.list_messages(session=session, conversation_id=cell.conversation_id):
                    if row.id is not None:
                        messages[row.id] = row
        out = []
        for sample in store.list_samples(session=session, run_id=run_id):
            cell, message = cells[sample.cell_id], messages.get(sample.message_id or 0)
            if message is None or sample.id is None:
                continue
            lane = lanes[sample.cell_id]
            document = message.prompt if isinstance(message.prompt, str) else None
            out.append(
                StoredReply(
                    sample.id,
                    cell.lane,
                    lane.model,
                    lane.kind,
                    cell.prompt_index,
                    document,
                    message.content,
                    sample.scores,
                )
            )
    return out


class ReplyActivations:
    """Each reply's mean activation over its own tokens, per layer (n_layer, n_embd), read once per run here."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self._means: dict[int, np.ndarray | None] = {}

    def means(self, reply: StoredReply) -> np.ndarray | None:
        """None for a reply with nothing to read: empty, or from a chat lane (no document).

        Raises:
            ServiceError: the lane's model answers from a server, whose activations cannot be read here.
        """
        if reply.sample_id not in self._means:
            self._means[reply.sample_id] = self._read(reply)
        return self._means[reply.sample_id]

    def _read(self, reply: StoredReply) -> np.ndarray | None:
        if reply.kind != "simulator" or reply.document is None or not reply.text:
            return None
        simulator: Any = self.registry.simulator(self.registry.resolve(reply.model))
        capture = getattr(simulator, "capture", None)
        if capture is None:
            raise ServiceError(
                f"lane {reply.lane!r}: {reply.model} answers from a server, so its activations cannot be read here;"
                " directions and projections need an in-process base model"
            )

        def job() -> Any:
            yield (yield from capture(reply.document, reply.text))

        captured = next(item for item in reversed(list(simulator.run_job(job, self.registry.worker))) if item)
        if captured.activations.shape[0] == 0:
            return None
        return np.asarray(captured.activations.mean(axis=0, dtype=np.float64))


def readings(
    activations: ReplyActivations, replies: Sequence[StoredReply], lane: str, cancel: threading.Event
) -> list[Reading]:
    out = []
    for reply in replies:
        if cancel.is_set():
            raise Cancelled
        if reply.lane == lane and (means := activations.means(reply)) is not None:
            out.append(Reading(reply.prompt_index, means))
    return out


class Cancelled(Exception):
    """The run was stopped while its activations were being read."""


def fit_lanes(suite: Suite, scorer: PersonaDirectionScorer) -> tuple[str, str]:
    """The unsteered lanes wearing the scorer's `toward` and `away` masks (the suite's checks make them one each)."""
    plain = [lane for lane in suite.lanes if steered_by(lane) is None]
    toward = next(lane for lane in plain if lane_mask(lane)[1] == scorer.toward)
    away = next(lane for lane in plain if lane_mask(lane)[1] == scorer.away)
    return toward, away


def fit_run(
    suite: Suite, activations: ReplyActivations, replies: Sequence[StoredReply], cancel: threading.Event
) -> tuple[PersonaDirectionScorer, Fit]:
    """The suite's direction from the run's replies.

    Raises:
        FitError: too few replies on either side. Cancelled: the run was stopped.
    """
    scorer = fitting_scorer(suite)
    assert scorer is not None
    toward, away = fit_lanes(suite, scorer)
    fit, held = scorer.split(len(suite.prompts))
    return scorer, fit_direction(
        readings(activations, replies, toward, cancel),
        readings(activations, replies, away, cancel),
        fit,
        held,
        suite.seed,
    )


def result_record(suite: Suite, scorer: PersonaDirectionScorer, fit: Fit, model: str) -> dict[str, Any]:
    """What the run keeps of its direction (with the stored vector's sha256), and the provenance it is stored
    with."""
    fit_prompts, held_prompts = scorer.split(len(suite.prompts))
    best = fit.best
    return {
        "direction": suite.name,
        "model": model,
        "toward": scorer.toward,
        "away": scorer.away,
        "positive": f"toward {scorer.toward} (positive α and projections), away from {scorer.away}",
        "prompts": [suite.prompts[i].last for i in fit_prompts],
        "held_out": [suite.prompts[i].last for i in held_prompts],
        "fit_n": {scorer.toward: fit.fit_n["toward"], scorer.away: fit.fit_n["away"]},
        "n": {scorer.toward: fit.held_n["toward"], scorer.away: fit.held_n["away"]},
        "best_layer": fit.best_layer,
        "auc": best.auc,
        "low": best.low,
        "high": best.high,
        "layers": [
            {
                "layer": x.layer,
                "auc": x.auc,
                "low": x.low,
                "high": x.high,
                "means": {scorer.toward: x.toward_mean, scorer.away: x.away_mean},
            }
            for x in fit.layers
        ],
    }


def projection_scores(
    suite: Suite,
    activations: ReplyActivations,
    reply: StoredReply,
    directions: dict[str, tuple[np.ndarray, int]],
) -> dict[str, float | None]:
    """Each projection scorer on one reply: its mean activation at the layer, on the direction's unit vector
    (the mean of the per-token projections, since a projection is linear); None when there is nothing to read."""
    scores: dict[str, float | None] = {}
    for scorer in projection_scorers(suite):
        vectors, best_layer = directions[scorer.direction]
        means = activations.means(reply)
        layer = best_layer if scorer.layer is None else scorer.layer
        scores[scorer.name] = None if means is None else round(float(projections(means, vectors)[layer]), 6)
    return scores
