"""Before a run that reads activations or steers is saved: its direction can be fitted and read where it runs
(in-process base models), the directions it projects on or steers with exist and were fitted on its lanes' model
(by sha256), and every layer named is one the model has. One clear error, and nothing saved, otherwise."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import fields

from personas.suites import Suite
from simulator.errors import LaneSpecError
from simulator.registry import ModelEntry, Registry
from simulator.steering import STEER_A_SERVER, SteeringRefused
from simulator.turn import LaneConfig
from ui.service.errors import ServiceError
from ui.service.experiments.directions import fit_lanes, fitting_scorer, projection_scorers
from ui.service.experiments.plan import CheckedLane
from ui.service.experiments.steered import steer_request
from ui.service.vectors.service import Vectors


def _in_process(entry: ModelEntry, spec: str, why: str) -> None:
    if entry.is_remote_simulator:
        raise LaneSpecError(
            f"lane {spec!r}: {why} reads activations in-process; " + STEER_A_SERVER.format(name=entry.name)
        )
    if entry.kind != "simulator" or entry.path is None:
        raise LaneSpecError(f"lane {spec!r}: {entry.name} is a chat model; {why} needs an in-process base model")


def check_activations(suite: Suite, registry: Registry, vectors: Vectors, lanes: Sequence[CheckedLane]) -> None:
    """Raises: LaneSpecError, SteeringRefused, ServiceError, LayerOutOfRange: the one thing that cannot run."""
    own = fitting_scorer(suite)
    by_spec = {lane.spec: lane for lane in lanes}
    fit_sha = None
    if own is not None:
        for spec in fit_lanes(suite, own):
            _in_process(registry.resolve(by_spec[spec].lane.model), spec, f"the persona_direction scorer {own.name!r}")
        fit_sha = by_spec[fit_lanes(suite, own)[0]].sha256
    for lane in lanes:
        request = steer_request(lane.spec)
        if request is None:
            continue
        if "steering" not in {f.name for f in fields(LaneConfig)}:  # until a turn can carry a control vector
            raise LaneSpecError(f"lane {lane.spec!r}: steered lanes cannot run yet (issue 21, in progress)")
        if own is not None and request.direction == suite.name:
            _in_process(registry.resolve(lane.lane.model), lane.spec, "steering")
            if lane.sha256 != fit_sha:
                raise SteeringRefused(f"lane {lane.spec!r} is another model than the lanes {suite.name!r} is fitted on")
        else:
            vectors.resolve_request(request, model=lane.lane.model)
    _check_projections(suite, registry, vectors, lanes, fit_sha)


def _check_projections(
    suite: Suite, registry: Registry, vectors: Vectors, lanes: Sequence[CheckedLane], fit_sha: str | None
) -> None:
    for scorer in projection_scorers(suite):
        own = fit_sha is not None and scorer.direction == suite.name
        if own:
            sha = fit_sha
        else:
            view = vectors.show(scorer.direction)
            sha = view.model_sha256
            if scorer.layer is not None and scorer.layer >= view.n_layer:
                raise ServiceError(
                    f"scorer {scorer.name!r}: layer {scorer.layer} is out of range: {scorer.direction!r} has layers"
                    f" 0 to {view.n_layer - 1}"
                )
        for lane in lanes:
            if lane.kind == "simulator" and lane.sha256 != sha:
                raise SteeringRefused(
                    f"scorer {scorer.name!r}: {scorer.direction!r} was fitted on another model than lane"
                    f" {lane.spec!r} (by sha256); project on a direction of that model"
                )
        if own and scorer.layer is not None:
            simulator = registry.simulator(registry.resolve(lanes[0].lane.model))
            check = getattr(simulator, "check_layers", None)
            if check is not None:
                check([scorer.layer])
