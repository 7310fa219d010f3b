"""The order a run with activation scorers is drawn in: the cells that do not wait for the suite's own direction,
then the fit (stored under the suite's name, with its figures kept on the run), then the lanes steered with it
(their steering resolved now, so they use this very vector), then the projections of every reply. Each stage
skips what the run already has, so a stopped or killed run resumes at the stage it was in."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import numpy as np
from sqlalchemy.engine import Engine
from sqlmodel import Session

from personas.suites import Suite
from simulator.registry import Registry
from storage import experiments as store
from ui.service.experiments.directions import (
    Cancelled,
    ReplyActivations,
    fit_run,
    fitting_scorer,
    projection_scorers,
    projection_scores,
    result_record,
    stored_replies,
    waits_for_direction,
)
from ui.service.experiments.steered import steer_cells
from ui.service.vectors.service import Vectors


class RunStages:
    def __init__(self, engine: Engine, registry: Registry, suite: Suite, run_id: int, cancel: threading.Event) -> None:
        self.engine = engine
        self.registry = registry
        self.suite = suite
        self.run_id = run_id
        self.cancel = cancel
        self.activations = ReplyActivations(registry)
        self.vectors = Vectors(engine, registry)

    def split(self, cells: Sequence[store.RunCell]) -> tuple[list[store.RunCell], list[store.RunCell]]:
        """(drawn first, drawn once the suite's own direction is stored)."""
        later = [c for c in cells if waits_for_direction(self.suite, c.lane)]
        return [c for c in cells if c not in later], later

    def _results(self) -> dict[str, Any]:
        with Session(self.engine) as session:
            return dict(store.get_run(session=session, run_id=self.run_id).settings.get("results", {}))

    def steer(self, cells: Sequence[store.RunCell]) -> None:
        """Point the steered lanes among `cells` at their vectors (those not pointed yet).

        Raises:
            ServiceError, LaneSpecError, SteeringRefused: a direction is gone or cannot steer its lane.
        """
        steer_cells(self.engine, self.vectors, cells)

    def fit(self, later: Sequence[store.RunCell]) -> None:
        """Fit and store the suite's direction unless this run already did, then point the waiting lanes at it.

        Raises:
            FitError: too few replies. Cancelled: stopped meanwhile. ServiceError: a lane cannot be read here.
        """
        scorer = fitting_scorer(self.suite)
        if scorer is None:
            return
        if scorer.name not in self._results():
            replies = stored_replies(self.engine, self.run_id)
            scorer, fit = fit_run(self.suite, self.activations, replies, self.cancel)
            model = next(r.model for r in replies if r.kind == "simulator")
            record = result_record(self.suite, scorer, fit, model)
            provenance = {"suite": self.suite.name, "run_id": self.run_id, **record}
            saved = self.vectors.save(
                name=self.suite.name,
                model_name=model,
                model_sha256=self.registry.model_sha256(model),
                vectors=fit.vectors,
                best_layer=fit.best_layer,
                provenance=provenance,
            )
            with Session(self.engine) as session:
                value = {**record, "vector_sha256": saved.vector_sha256}
                store.set_run_result(session=session, run_id=self.run_id, key=scorer.name, value=value)
        steer_cells(self.engine, self.vectors, later)

    def project(self) -> None:
        """Score every reply that lacks a projection.

        Raises:
            Cancelled: stopped meanwhile. ServiceError, NotFound: a direction or a lane cannot be read.
        """
        scorers = projection_scorers(self.suite)
        if not scorers:
            return
        directions: dict[str, tuple[np.ndarray, int]] = {}
        for name in {s.direction for s in scorers}:
            directions[name] = (self.vectors.array(name), self.vectors.show(name).best_layer)
        for reply in stored_replies(self.engine, self.run_id):
            if all(s.name in reply.scores for s in scorers):
                continue
            if self.cancel.is_set():
                raise Cancelled
            scores = projection_scores(self.suite, self.activations, reply, directions)
            with Session(self.engine) as session:
                store.set_sample_scores(session=session, sample_id=reply.sample_id, scores=scores)
