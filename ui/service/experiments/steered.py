"""Steered lanes in a suite (`MODEL@MASK^DIRECTION:ALPHA[:FIRST-LAST]`): each cell's lane is pointed at the exact
vector it steers with (`Steering`, by sha256) just before its first sample is drawn, and keeps it, so a resumed
run steers its remaining samples with the same numbers even if a newer direction of that name is saved since.
A lane that steers with the direction its own suite fits is pointed only once the fit is stored."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.engine import Engine
from sqlmodel import Session

from personas.names import LANE_SPEC
from simulator.values import Steering
from storage import experiments as store
from storage import repo
from ui.service.vectors.service import Vectors
from ui.service.vectors.views import SteerRequest, parse_steer


def steer_request(spec: str) -> SteerRequest | None:
    """The steering a lane spec asks for, not yet looked up; None for an unsteered lane.

    Raises:
        LaneSpecError: α or the layers cannot be read.
    """
    match = LANE_SPEC.match(spec)
    if match is None or match["direction"] is None:
        return None
    return parse_steer(f"{match['direction']}:{match['steer'] or ''}")


def steer_cells(engine: Engine, vectors: Vectors, cells: Sequence[store.RunCell]) -> None:
    """Point each steered cell's lane that is not yet pointed at the newest vector of its direction.

    Raises:
        ServiceError: no direction has that name. LaneSpecError, SteeringRefused: it cannot steer the lane's model.
    """
    for cell in cells:
        request = steer_request(cell.lane)
        if request is None or cell.conversation_id is None:
            continue
        with Session(engine) as session:
            lane = repo.list_lanes(session=session, conversation_id=cell.conversation_id)[0]
            if lane.steering is not None:
                continue
            steering: Steering = vectors.resolve_request(request, model=lane.model)
            assert lane.id is not None
            store.steer_lane(session=session, lane_id=lane.id, steering=steering.model_dump(mode="json"))
