"""`Vectors`: the persona directions in one database, for pages, commands, conversations and experiments. A
direction is saved under a name (the newest of a name wins; older ones stay so their steered replies replay),
read back as a `DirectionView` or a numpy array, resolved into the `Steering` a lane stores (checked against the
lane's model before anything is saved), turned into the `ControlVector` a decode applies, and exported as the
control-vector GGUF llama-server loads."""

from __future__ import annotations

import math
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import ValidationError
from sqlalchemy.engine import Engine
from sqlmodel import Session

from personas.names import is_name
from simulator.cvec_file import read_control_vector, write_control_vector
from simulator.errors import LaneSpecError
from simulator.registry import ModelEntry, Registry
from simulator.steering import STEER_A_SERVER, ControlVector, SteeringRefused, vector_sha256
from simulator.values import MAX_ALPHA, Steering
from storage import directions as store
from storage.tables.directions import Direction
from ui.service.errors import ServiceError
from ui.service.vectors.views import DirectionView, SteerRequest

__all__ = ["Exported", "Vectors"]


@dataclass(frozen=True)
class Exported:
    """A direction written as a control-vector file, and the llama-server command that steers with it."""

    path: Path
    first_layer: int
    last_layer: int
    scale: float
    command: str


class Vectors:
    """Persona directions over one database and one model registry."""

    def __init__(self, engine: Engine, registry: Registry) -> None:
        self.engine = engine
        self.registry = registry

    @classmethod
    def of(cls, workspace: Any) -> Vectors:
        """The directions of a `ui.service.workspace.Workspace`."""
        return cls(workspace.engine, workspace.registry)

    def save(
        self,
        name: str,
        model_name: str,
        model_sha256: str,
        vectors: np.ndarray,
        best_layer: int,
        provenance: dict[str, Any],
    ) -> DirectionView:
        """Save `vectors` (n_layer, n_embd; row il is added to layer il's output) as the newest direction `name`.

        Raises:
            ServiceError: a name that is not a library name, vectors that are not finite float rows, or a best
                layer that cannot be steered.
        """
        if not is_name(name) or len(name) > 64:
            raise ServiceError(f"{name!r} cannot name a direction: use lower-case letters, digits, '-', '_' or '.'")
        array = np.ascontiguousarray(vectors, dtype=np.float32)
        if array.ndim != 2 or array.shape[0] < 2 or not np.all(np.isfinite(array)):
            raise ServiceError(f"a direction is one row of finite numbers per layer, not shape {np.shape(vectors)}")
        if not 1 <= best_layer <= array.shape[0] - 1:
            raise ServiceError(f"best layer {best_layer} cannot be steered: layers 1 to {array.shape[0] - 1} can")
        with Session(self.engine) as session:
            row = store.add_direction(
                session=session,
                name=name,
                model_name=model_name,
                model_sha256=model_sha256,
                vector_sha256=vector_sha256(array),
                n_layer=array.shape[0],
                n_embd=array.shape[1],
                vectors=array.tobytes(),
                best_layer=best_layer,
                provenance=provenance,
            )
        return DirectionView.of(row)

    def list(self) -> list[DirectionView]:
        """Each name's newest direction, by name."""
        with Session(self.engine) as session:
            return [DirectionView.of(row) for row in store.list_directions(session=session)]

    def show(self, name: str) -> DirectionView:
        """Raises: ServiceError: no direction has that name (the message lists the names there are)."""
        return DirectionView.of(self._newest(name))

    def array(self, name: str) -> np.ndarray:
        """The newest direction `name` as float32 (n_layer, n_embd). Raises ServiceError like `show`."""
        return _array(self._newest(name))

    def resolve(
        self, name: str, alpha: float, layers: tuple[int, int] | None = None, *, model: str | ModelEntry | None = None
    ) -> Steering:
        """The steering a lane stores: the newest direction `name` at `alpha` on `layers` (default: its best
        layer). With `model`, also checks that a lane on that model can be steered with it (`check`).

        Raises:
            ServiceError: no direction has that name.
            LaneSpecError, SteeringRefused: α or the layers are out of range, or the model cannot take it.
        """
        row = self._newest(name)
        first, last = layers if layers is not None else (row.best_layer, row.best_layer)
        if not 1 <= first <= last <= row.n_layer - 1:
            which = f"layer {first} is" if first == last else f"layers {first}-{last} are"
            order = " (the last comes first)" if last < first else ""
            raise LaneSpecError(
                f"{which} out of range{order}: {row.model_name} can be steered on layers 1 to {row.n_layer - 1}"
            )
        try:
            steering = Steering(
                direction=name, vector_sha256=row.vector_sha256, alpha=alpha, first_layer=first, last_layer=last
            )
        except ValidationError:
            raise LaneSpecError(f"α must be a number from {-MAX_ALPHA:g} to {MAX_ALPHA:g}, not {alpha!r}") from None
        if model is not None:
            self.check(steering, model)
        return steering

    def resolve_request(self, request: SteerRequest, *, model: str | ModelEntry | None = None) -> Steering:
        """`resolve` for a steering as typed (`views.parse_steer`)."""
        return self.resolve(request.direction, request.alpha, request.layers, model=model)

    def check(self, steering: Steering, model: str | ModelEntry) -> None:
        """Whether a lane on `model` can be steered with `steering`, before anything is saved.

        Raises:
            LaneSpecError: `model` is a chat model, or a base model on a server (the message gives the server route).
            SteeringRefused: the direction was computed on another model (by sha256), or does not fit its layers.
            ServiceError: the direction is no longer in this database.
            ModelUnavailable: `model` is unknown.
        """
        entry = self.registry.resolve(model) if isinstance(model, str) else model
        if entry.is_remote_simulator:
            raise LaneSpecError(STEER_A_SERVER.format(name=entry.name))
        if entry.kind != "simulator" or entry.path is None:
            raise LaneSpecError(
                f"{entry.name} is a chat model: steering adds a direction to an in-process base model's activations,"
                f" e.g. base@assistant^{steering.direction}:{steering.alpha:g}"
            )
        vector = self.control_vector(steering)
        n_layer, n_embd = vector.vectors.shape
        sha = self.registry.model_sha256(entry)
        try:
            vector.check(model_sha256=sha, n_layer=n_layer, n_embd=n_embd, model=entry.name)
        except SteeringRefused as e:
            raise SteeringRefused(f"{steering.direction}: {e}") from None

    def control_vector(self, steering: Steering) -> ControlVector:
        """What a decode adds: the direction with exactly these numbers (by `vector_sha256`, whatever the name's
        newest is now), at the steering's α and layers.

        Raises:
            ServiceError: no direction with those numbers is in this database (an imported conversation).
        """
        with Session(self.engine) as session:
            row = store.direction_by_vector(
                session=session, vector_sha256=steering.vector_sha256, name=steering.direction
            )
            names = store.direction_names(session=session)
        if row is None:
            raise ServiceError(
                f"the direction {steering.direction!r} this lane is steered with (vector"
                f" {steering.vector_sha256[:12]}…) is not in this database: {_there_are(names)}; compute it here"
                " (its suite) to steer with it again"
            )
        return ControlVector(
            vectors=_array(row),
            alpha=steering.alpha,
            first_layer=steering.first_layer,
            last_layer=steering.last_layer,
            model_sha256=row.model_sha256,
        )

    def export(self, name: str, out: Path, *, scale: float = 1.0, layers: tuple[int, int] | None = None) -> Exported:
        """Write the newest direction `name` times `scale` on `layers` (default: its best layer) to `out` as
        llama.cpp's control-vector GGUF, and the llama-server command that loads it as it is (`--control-vector
        FILE`): such a server adds exactly the numbers a lane here steered at α = `scale` on those layers adds
        (docs/vectors.md; `--control-vector-scaled FILE:S` would multiply them by S again).

        Raises:
            ServiceError: no direction has that name.
            LaneSpecError: the layers are out of range, or the scale is not a finite number within ±MAX_ALPHA.
            VectorFileError: the file cannot be written.
        """
        steering = self.resolve(name, _checked_scale(scale), layers)
        row = self._newest(name)
        first, last = steering.first_layer, steering.last_layer
        write_control_vector(
            out, _array(row), first_layer=first, last_layer=last, scale=scale, model_hint=row.model_name
        )
        command = [
            "llama-server",
            "-m",
            self._model_path(row.model_name),
            "--control-vector",
            str(out),
            "--control-vector-layer-range",
            str(first),
            str(last),
        ]
        return Exported(path=out, first_layer=first, last_layer=last, scale=scale, command=shlex.join(command))

    def import_file(self, path: Path, name: str, model: str = "base") -> DirectionView:
        """Save a control-vector GGUF made elsewhere (llama.cpp's cvector-generator, another Simulacra) as the
        newest direction `name` for `model`, an in-process base model: its rows are what it adds at α = 1, its
        best layer the one it adds the most to. The file only hints at its model, so the user names it; a file
        whose width or layers do not fit that model is refused before anything is saved.

        Raises:
            VectorFileError: not a control-vector GGUF, or of another size than the model's layers.
            LaneSpecError: `model` is not an in-process base model. ServiceError: `name` cannot name a direction.
        """
        entry = self.registry.resolve(model)
        if entry.kind != "simulator" or entry.path is None:
            raise LaneSpecError(f"{entry.name} is not an in-process base model: a direction is read into one")
        simulator = self.registry.local_simulator(entry)
        vectors = read_control_vector(path, n_layer=simulator.n_layer, n_embd=simulator.n_embd)
        best = int(np.argmax(np.linalg.norm(vectors, axis=1)))
        provenance = {"imported_from": path.name}
        return self.save(name, entry.name, self.registry.model_sha256(entry), vectors, best, provenance)

    def _model_path(self, model_name: str) -> str:
        entry = self.registry.entries.get(model_name)
        if entry is None or entry.path is None:
            return f"<the {model_name} .gguf file>"
        return str(entry.path())

    def _newest(self, name: str) -> Direction:
        with Session(self.engine) as session:
            row = store.newest_direction(session=session, name=name)
            if row is None:
                names = store.direction_names(session=session)
                raise ServiceError(f"there is no direction named {name!r}: {_there_are(names)}")
        return row


def _there_are(names: list[str]) -> str:
    if not names:
        return "this database has none yet (the assistant-axis suite computes one)"
    return "the directions are " + ", ".join(names)


def _checked_scale(scale: float) -> float:
    if not math.isfinite(scale) or abs(scale) > MAX_ALPHA:
        raise LaneSpecError(f"the scale must be a number from {-MAX_ALPHA:g} to {MAX_ALPHA:g}, not {scale!r}")
    return scale


def _array(row: Direction) -> np.ndarray:
    return np.frombuffer(row.vectors, dtype=np.float32).reshape(row.n_layer, row.n_embd).copy()
