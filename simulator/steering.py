"""Steering: a persona direction added to the residual stream while one lane decodes, as a llama.cpp control
vector (`llama_set_adapter_cvec`, the same addition llama-server's `--control-vector` makes).

A control vector belongs to a context, not to the weights, so steering one lane leaves the lanes beside it on
the same model untouched. A context's KV cache holds activations computed under whatever vector was set, so a
context is only reused under the same vector: `Context.steer` empties the cache whenever the vector changes, and
the pools hand each borrower a context already set to its vector (or to none).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from simulator.errors import LaneError

STEER_A_SERVER = (
    "{name} runs on a server, which cannot be steered per request: start the server with the exported vector"
    " (simulacra vectors export NAME --out FILE.gguf, then llama-server --control-vector-scaled FILE.gguf:ALPHA"
    " --control-vector-layer-range FIRST LAST; see docs/vectors.md) and use it as a plain remote lane"
)


class SteeringRefused(LaneError):
    """A control vector that does not fit this model (another model's, the wrong width, layers it lacks)."""


def vector_sha256(vectors: np.ndarray) -> str:
    """The identity of a direction's numbers: the sha256 of its float32 bytes, row by row."""
    return hashlib.sha256(np.ascontiguousarray(vectors, dtype=np.float32).tobytes()).hexdigest()


@dataclass(frozen=True, eq=False)
class ControlVector:
    """`alpha` times a direction's per-layer vectors (`vectors`, shape (n_layer, width), float32), added to the
    output of layers `first_layer`..`last_layer` at every position. Layer 0 cannot be steered: llama.cpp's
    control vectors start at layer 1. `model_sha256` is the model the direction was computed on."""

    vectors: np.ndarray
    alpha: float
    first_layer: int
    last_layer: int
    model_sha256: str

    @cached_property
    def key(self) -> str:
        """What a cache computed under this vector is keyed by."""
        return f"{vector_sha256(self.vectors)}:{self.alpha!r}:{self.first_layer}-{self.last_layer}"

    def buffer(self) -> np.ndarray:
        """llama.cpp's layout: one row per layer from layer 1, zero outside the range; `alpha` times the vector in
        float32, as llama.cpp's loader scales a file's vector (so a server given the file and the same scale adds
        the very same numbers)."""
        n_layer, width = self.vectors.shape
        data = np.zeros((n_layer - 1, width), dtype=np.float32)
        rows = slice(self.first_layer, self.last_layer + 1)
        data[self.first_layer - 1 : self.last_layer] = np.float32(self.alpha) * self.vectors[rows].astype(np.float32)
        return data

    def check(self, *, model_sha256: str | None, n_layer: int, n_embd: int, model: str) -> None:
        """Raises SteeringRefused, with one line saying why, when this vector cannot steer that model."""
        if model_sha256 is not None and self.model_sha256 != model_sha256:
            raise SteeringRefused(
                f"this direction was computed on another model (sha256 {self.model_sha256[:12]}…), not on {model}"
                f" (sha256 {model_sha256[:12]}…): a direction only means something in the model it was read from"
            )
        if self.vectors.shape != (n_layer, n_embd):
            raise SteeringRefused(
                f"this direction has {self.vectors.shape[0]} layers of {self.vectors.shape[1]} values;"
                f" {model} has {n_layer} layers of {n_embd}"
            )
        if not 1 <= self.first_layer <= self.last_layer <= n_layer - 1:
            raise SteeringRefused(
                f"layers {self.first_layer}-{self.last_layer} are out of range: {model} can be steered on layers"
                f" 1 to {n_layer - 1}"
            )
