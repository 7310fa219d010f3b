"""The errors a front end shows as one line and goes on: every domain error meant for a person."""

from __future__ import annotations

from personas.mask import MaskError
from simulator.errors import LaneSpecError, SimulacraError
from storage.errors import NotFound, StorageError

__all__ = ["USER_ERRORS", "LaneSpecError", "NotFound", "ServiceError", "SimulacraError"]


class ServiceError(SimulacraError):
    """Something the user asked for that cannot be done as asked: the message says what to change."""


USER_ERRORS: tuple[type[Exception], ...] = (SimulacraError, MaskError, StorageError)
