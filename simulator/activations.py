"""Activation capture: the residual stream after chosen layers at chosen positions, read through llama.cpp's
eval callback (`cb_eval`), which hands over every named tensor of the graph as it is computed.

Why a context of its own: llama.cpp takes the callback when a context is created, and a context that has one
splits its graph at every tensor the callback asks for, so a lane's decode would pay for capture even with
nothing to capture. Capture instead re-reads a document and a text on a capture context (teacher forcing, as
scoring does); a model is causal, so each position's activations are those the lane computed when it wrote the
text. Lane contexts never carry the callback, and decode with capture off is exactly as fast as before.

`l_out-N` is layer N's output (the residual stream after block N, with a control vector's addition when one
is set). The last layer keeps only the rows whose logits are asked for, so capture asks for logits at every
captured position, and a row is matched to its position by how many rows the tensor has.
"""

from __future__ import annotations

import ctypes
from collections.abc import Generator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import llama_cpp
import numpy as np
from llama_cpp._ggml import libggml

from simulator.contexts import Context, ContextPool, read_prompt
from simulator.errors import LaneError
from simulator.steering import ControlVector

if TYPE_CHECKING:
    from llama_cpp import _internals as internals

    from simulator.teacher import TeacherForcing as _Base
else:
    _Base = object

CAPTURE_CONTEXTS = 1
_LAYER_OUTPUT = "l_out-"

libggml.ggml_get_name.argtypes = [ctypes.c_void_p]
libggml.ggml_get_name.restype = ctypes.c_char_p
libggml.ggml_nelements.argtypes = [ctypes.c_void_p]
libggml.ggml_nelements.restype = ctypes.c_int64
libggml.ggml_nbytes.argtypes = [ctypes.c_void_p]
libggml.ggml_nbytes.restype = ctypes.c_size_t
libggml.ggml_backend_tensor_get.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_size_t]
libggml.ggml_backend_tensor_get.restype = None
libggml.ggml_backend_tensor_set.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_size_t]
libggml.ggml_backend_tensor_set.restype = None


class LayerOutOfRange(LaneError):
    """A layer this model does not have."""


@dataclass(frozen=True, eq=False)
class Captured:
    """The residual stream over a text's tokens: `activations[i, j]` is the output of layer `layers[j]` at the
    text's token `i` (`tokens[i]`, its bytes), float32 of the model's width."""

    layers: tuple[int, ...]
    tokens: list[bytes]
    activations: np.ndarray

    def layer(self, index: int) -> np.ndarray:
        """(tokens, width): the rows of layer `index`."""
        return self.activations[:, self.layers.index(index), :]


@dataclass(eq=False)
class Recorder:
    """The eval callback of one capture context, and what it has recorded since `start`."""

    n_embd: int
    context: Context | None = None
    wanted: dict[str, int] = field(default_factory=dict)  # tensor name -> layer
    positions: set[int] = field(default_factory=set)
    rows: dict[tuple[int, int], np.ndarray] = field(default_factory=dict)  # (layer, position) -> activation
    replace: dict[str, np.ndarray] = field(default_factory=dict)  # tensor name -> rows written over it (`lens`)
    error: str | None = None

    def __post_init__(self) -> None:
        self.callback = llama_cpp.ggml_backend_sched_eval_callback(self._on_tensor)  # kept alive with the recorder

    def start(self, layers: Sequence[int], positions: set[int], replace: dict[str, np.ndarray] | None = None) -> None:
        self.wanted = {f"{_LAYER_OUTPUT}{layer}": layer for layer in layers}
        self.positions = positions
        self.rows = {}
        self.replace = replace or {}
        self.error = None

    def _on_tensor(self, tensor: int, ask: bool, _user: int) -> bool:
        name = libggml.ggml_get_name(tensor).decode("ascii", errors="replace")
        layer = self.wanted.get(name)
        if ask:
            return layer is not None or name in self.replace
        try:
            if layer is not None:
                self._record(tensor, layer)
            if name in self.replace:
                self._overwrite(tensor, self.replace[name])
        except Exception as e:  # noqa: BLE001 - an exception must not cross into C; capture reports it
            self.error = f"could not read {name}: {e}"
        return True  # False would stop the graph

    @staticmethod
    def _overwrite(tensor: int, rows: np.ndarray) -> None:
        """Write `rows` over the tensor just computed: the rest of the graph then reads them instead."""
        data = np.ascontiguousarray(rows, dtype=np.float32)
        if libggml.ggml_nbytes(tensor) != data.nbytes:
            raise ValueError(f"{data.nbytes} bytes for a tensor of {libggml.ggml_nbytes(tensor)}")
        libggml.ggml_backend_tensor_set(tensor, data.ctypes.data, 0, data.nbytes)

    def _record(self, tensor: int, layer: int) -> None:
        assert self.context is not None
        n_rows = libggml.ggml_nelements(tensor) // self.n_embd
        if libggml.ggml_nbytes(tensor) != n_rows * self.n_embd * 4:
            raise ValueError("not float32")
        data = np.empty((n_rows, self.n_embd), dtype=np.float32)
        libggml.ggml_backend_tensor_get(tensor, data.ctypes.data, 0, data.nbytes)
        batch = self.context.batch.batch
        start = len(self.context.tokens)  # the decode in progress has not been appended yet
        every = [start + j for j in range(batch.n_tokens)]
        outputs = [start + j for j in range(batch.n_tokens) if batch.logits[j]]
        rows = every if n_rows == len(every) else outputs if n_rows == len(outputs) else None
        if rows is None:
            raise ValueError(f"{n_rows} rows for a batch of {len(every)} tokens")
        for row, position in enumerate(rows):
            if position in self.positions:
                self.rows[layer, position] = data[row].copy()


class LocalActivations(_Base):
    """`capture` for `simulator.base.Simulator`."""

    _capture: ContextPool

    def _loaded(self) -> internals.LlamaModel:
        raise NotImplementedError

    def check_steering(self, steering: ControlVector | None) -> None:
        raise NotImplementedError

    @property
    def n_layer(self) -> int:
        return int(llama_cpp.llama_model_n_layer(self._loaded().model))

    @property
    def n_embd(self) -> int:
        return int(self._loaded().n_embd())

    def check_layers(self, layers: Sequence[int], *, lowest: int = 0) -> None:
        """Raises LayerOutOfRange naming the layers this model has."""
        top = self.n_layer - 1
        for layer in layers:
            if not lowest <= layer <= top:
                raise LayerOutOfRange(f"layer {layer} is out of range: {self.name} has layers {lowest} to {top}")

    def capture(
        self,
        document: str,
        text: str,
        layers: Sequence[int] | None = None,
        *,
        key: str = "capture",
        steering: ControlVector | None = None,
    ) -> Generator[None, None, Captured]:
        """The residual stream after each of `layers` (default: all) at each token of `text` read after
        `document`, as a step-wise job on a capture context; under `steering` when given, as a steered lane
        computed it (its layers' outputs then include the vector's addition).

        Raises:
            LayerOutOfRange: a layer the model does not have.
            PromptTooLong: the two together do not fit in the context.
            SteeringRefused: `steering` does not fit this model.
        """
        chosen = tuple(range(self.n_layer)) if layers is None else tuple(layers)
        self.check_layers(chosen)
        self.check_steering(steering)
        full, start = self._split(document, text)
        if start >= len(full):
            return Captured(chosen, [], np.zeros((0, len(chosen), self.n_embd), dtype=np.float32))
        context = self._capture.acquire([], key, steering)
        recorder: Recorder = context.recorder
        recorder.start(chosen, set(range(start, len(full))))
        try:
            context.truncate(0)  # every captured position is decoded now, none read from the cache
            yield from read_prompt(context, full, range(start + 1, len(full)), last=True, measure=_nothing)
        finally:
            self._capture.release(context, key)
        if recorder.error is not None:
            raise LaneError(f"activation capture failed: {recorder.error}")
        positions = range(start, len(full))
        stacked = np.zeros((len(positions), len(chosen), self.n_embd), dtype=np.float32)
        for i, position in enumerate(positions):
            for j, layer in enumerate(chosen):
                stacked[i, j] = recorder.rows[layer, position]
        return Captured(chosen, [self._piece(t) for t in full[start:]], stacked)


def _nothing(_logits: np.ndarray, _token: int, _scratch: np.ndarray) -> float:
    return 0.0
