"""Control-vector files: a persona direction written as the GGUF that llama.cpp's own tools load
(`llama-server --control-vector FILE`, `--control-vector-scaled FILE:S`), and read back, so a direction found
here can steer a remote llama-server lane at start-up and a file made elsewhere can steer a lane here.

The format is llama.cpp's (common/common.cpp `common_control_vector_load_one`, written by
tools/cvector-generator): architecture `controlvector`, keys `controlvector.model_hint` and
`controlvector.layer_count`, and one 1-D float32 tensor `direction.{il}` of n_embd values per steered layer
il >= 1, which llama.cpp adds to layer il's output (`l_out-il`). A layer with no tensor is not steered. Only
numpy arrays and `VectorFileError` leave this module."""

from __future__ import annotations

import math
import os
import re
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from simulator.errors import VectorFileError

__all__ = ["ARCHITECTURE", "read_control_vector", "write_control_vector"]

ARCHITECTURE = "controlvector"
_DIRECTION = re.compile(r"direction\.(\d+)")


def write_control_vector(
    path: str | os.PathLike[str],
    vectors: np.ndarray,
    *,
    first_layer: int,
    last_layer: int,
    scale: float,
    model_hint: str,
) -> None:
    """Write `scale * vectors[il]` as `direction.{il}` for each layer il in first_layer..last_layer (inclusive).

    `vectors` has shape (n_layer, n_embd), row il being what is added to layer il's output; row 0 is never
    written (llama.cpp steers layers 1..n_layer-1). `model_hint` is recorded for people (llama.cpp does not check
    it): the model's architecture or name. The file is written beside `path` and moved over it only once whole,
    so a failed export leaves an existing file as it was.

    Raises:
        VectorFileError: a layer out of range, a vector that is not (n_layer, n_embd) finite numbers, or a path
            that cannot be written.
    """
    rows = _checked_rows(vectors, first_layer, last_layer, scale)
    target = Path(path)
    try:
        handle, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    except OSError as error:
        raise VectorFileError(f"cannot write the vector file {target}: {_reason(error)}") from error
    os.close(handle)
    try:
        _write_gguf(Path(temporary), rows, model_hint)
        os.replace(temporary, target)
    except OSError as error:
        raise VectorFileError(f"cannot write the vector file {target}: {_reason(error)}") from error
    finally:
        Path(temporary).unlink(missing_ok=True)


def read_control_vector(path: str | os.PathLike[str], *, n_layer: int, n_embd: int) -> np.ndarray:
    """The control vector in a GGUF file as a float32 array of shape (n_layer, n_embd): row il is what the file
    adds to layer il's output, zero for layers it does not steer (and always for layer 0).

    Raises:
        VectorFileError: one line saying what is wrong: the file is missing, unreadable or not a GGUF; it holds no
            direction tensors; a direction is not float32 values, or not n_embd of them; or it steers a layer
            this model does not have.
    """
    source = Path(path)
    tensors = _tensors(source)
    if not tensors:
        raise VectorFileError(
            f"{source} holds no control vector: a GGUF file with no direction.N tensors (is it a model file?)"
        )
    vectors = np.zeros((n_layer, n_embd), dtype=np.float32)
    for name, kind, values in tensors:
        layer = _layer_of(source, name)
        if layer >= n_layer:
            last = n_layer - 1
            raise VectorFileError(
                f"{source} steers layer {layer}, but this model's layers are 0-{last} (steerable: 1-{last})"
            )
        if kind != "F32" or values.ndim != 1:
            raise VectorFileError(
                f"{source}: tensor {name} is {kind} of shape {tuple(values.shape)}; a direction is one row of float32"
            )
        if values.size != n_embd:
            raise VectorFileError(
                f"the vector file {source} has {values.size} values per layer; this model's layers have {n_embd}"
            )
        if not np.all(np.isfinite(values)):
            raise VectorFileError(f"{source}: tensor {name} holds values that are not finite numbers")
        vectors[layer] = values
    return vectors


def _checked_rows(vectors: np.ndarray, first_layer: int, last_layer: int, scale: float) -> dict[int, np.ndarray]:
    """The rows to write, scaled, by layer; refuses what llama.cpp would refuse or silently ignore."""
    array = np.asarray(vectors)
    if array.ndim != 2 or array.shape[0] < 2 or array.shape[1] < 1 or not np.issubdtype(array.dtype, np.number):
        raise VectorFileError(f"a control vector is one row of numbers per layer, not an array of shape {array.shape}")
    n_layer = array.shape[0]
    if not 1 <= first_layer <= last_layer <= n_layer - 1:
        raise VectorFileError(
            f"layers {first_layer}-{last_layer} are out of range: this model's steerable layers are 1-{n_layer - 1}"
        )
    if not math.isfinite(scale):
        raise VectorFileError(f"the scale must be a finite number, not {scale}")
    rows = {il: array[il].astype(np.float32) * np.float32(scale) for il in range(first_layer, last_layer + 1)}
    if not all(np.all(np.isfinite(row)) for row in rows.values()):
        raise VectorFileError("the control vector holds values that are not finite numbers (at this scale)")
    return rows


def _write_gguf(path: Path, rows: dict[int, np.ndarray], model_hint: str) -> None:
    """The file as llama.cpp's cvector-generator writes it (keys, then tensors in layer order)."""
    import gguf  # imported here: it costs a third of a second, and only exports and imports need it

    writer = gguf.GGUFWriter(path, ARCHITECTURE)
    try:
        writer.add_string(f"{ARCHITECTURE}.model_hint", model_hint)
        writer.add_int32(f"{ARCHITECTURE}.layer_count", len(rows))
        for layer, row in rows.items():
            writer.add_tensor(f"direction.{layer}", np.ascontiguousarray(row, dtype=np.float32))
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
    finally:
        writer.close()


def _tensors(source: Path) -> list[tuple[str, str, np.ndarray]]:
    """(name, type, values) of each tensor in the GGUF file, values copied out of the file's memory map."""
    if not source.is_file():
        what = "is a folder" if source.is_dir() else "does not exist"
        raise VectorFileError(f"the vector file {source} {what}")
    import gguf

    try:
        with source.open("rb") as file:
            magic = file.read(4)
    except OSError as error:
        raise VectorFileError(f"cannot read the vector file {source}: {_reason(error)}") from error
    if magic != b"GGUF":  # checked first: gguf's own error on another file's bytes names numpy's dtypes, not the file
        raise VectorFileError(f"{source} is not a GGUF file (a control vector is a .gguf file)")
    try:
        reader = gguf.GGUFReader(source)
        found = [(str(t.name), t.tensor_type.name, np.array(t.data).reshape(_shape(t))) for t in reader.tensors]
    except ValueError as error:
        if "magic" in str(error).lower() or "empty file" in str(error):
            raise VectorFileError(f"{source} is not a GGUF file (a control vector is a .gguf file)") from error
        raise VectorFileError(f"{source} is not a readable GGUF file: {error}") from error
    except (OSError, IndexError, KeyError, TypeError, OverflowError) as error:
        raise VectorFileError(f"{source} is not a readable GGUF file: {_reason(error)}") from error
    del reader  # closes the memory map
    return found


def _shape(tensor: Any) -> tuple[int, ...]:
    """The tensor's numpy shape; GGUF lists dimensions innermost first."""
    return tuple(int(n) for n in reversed(list(tensor.shape)))


def _layer_of(source: Path, name: str) -> int:
    match = _DIRECTION.fullmatch(name)
    if match is None:
        raise VectorFileError(f"{source}: tensor {name} is not a direction (control vectors hold direction.N tensors)")
    layer = int(match.group(1))
    if layer == 0:
        raise VectorFileError(f"{source}: direction.0 steers layer 0, which llama.cpp never steers (layers start at 1)")
    return layer


def _reason(error: OSError | Exception) -> str:
    return getattr(error, "strerror", None) or str(error) or type(error).__name__
