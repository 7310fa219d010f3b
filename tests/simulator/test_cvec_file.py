# Control-vector GGUF files on disk: what write_control_vector writes is what llama.cpp's loader reads
# (checked against a real llama-server in test_cvec_server.py), it reads back exactly, and every file that
# cannot steer this model is refused with one line saying why.

from __future__ import annotations

from pathlib import Path

import gguf
import numpy as np
import pytest

from simulator.cvec_file import read_control_vector, write_control_vector
from simulator.errors import VectorFileError

# gemma-3-270m's shape: 18 layers of 640 values.
N_LAYER, N_EMBD = 18, 640


def vectors(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((N_LAYER, N_EMBD)).astype(np.float32)


def gguf_file(path: Path, tensors: dict[str, np.ndarray], arch: str = "controlvector") -> Path:
    """A GGUF file written by llama.cpp's own writer with exactly these tensors."""
    writer = gguf.GGUFWriter(path, arch)
    for name, values in tensors.items():
        writer.add_tensor(name, values)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def test_a_written_vector_reads_back_scaled_on_its_layers_only(tmp_path: Path) -> None:
    path = tmp_path / "axis.gguf"
    direction = vectors()

    write_control_vector(path, direction, first_layer=4, last_layer=9, scale=-2.5, model_hint="gemma3")

    read = read_control_vector(path, n_layer=N_LAYER, n_embd=N_EMBD)
    assert read.dtype == np.float32 and read.shape == (N_LAYER, N_EMBD)
    assert np.array_equal(read[4:10], direction[4:10] * np.float32(-2.5))
    assert not read[:4].any() and not read[10:].any(), "layers outside 4-9 are not steered"
    # The keys llama.cpp's cvector-generator writes, one float32 direction.N per steered layer.
    reader = gguf.GGUFReader(path)
    assert reader.get_field("general.architecture").contents() == "controlvector"
    assert reader.get_field("controlvector.model_hint").contents() == "gemma3"
    assert reader.get_field("controlvector.layer_count").contents() == 6
    assert [(t.name, t.tensor_type.name, list(t.shape)) for t in reader.tensors] == [
        (f"direction.{il}", "F32", [N_EMBD]) for il in range(4, 10)
    ]


def test_a_refused_export_leaves_the_existing_file_as_it_was(tmp_path: Path) -> None:
    path = tmp_path / "axis.gguf"
    write_control_vector(path, vectors(), first_layer=1, last_layer=17, scale=1.0, model_hint="gemma3")
    before = path.read_bytes()

    for first, last in [(0, 5), (5, 18), (7, 6)]:
        refused = f"layers {first}-{last} are out of range: .* steerable layers are 1-17"
        with pytest.raises(VectorFileError, match=refused):
            write_control_vector(path, vectors(1), first_layer=first, last_layer=last, scale=1.0, model_hint="gemma3")
    broken = vectors(1)
    broken[3, 7] = np.nan
    with pytest.raises(VectorFileError, match="not finite"):
        write_control_vector(path, broken, first_layer=1, last_layer=5, scale=1.0, model_hint="gemma3")
    with pytest.raises(VectorFileError, match="one row of numbers per layer, not an array of shape"):
        write_control_vector(path, vectors()[0], first_layer=1, last_layer=1, scale=1.0, model_hint="gemma3")

    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["axis.gguf"], "no partial file is left behind"


def test_an_unwritable_path_is_one_error(tmp_path: Path) -> None:
    with pytest.raises(VectorFileError, match=r"cannot write the vector file .*missing/axis.gguf: No such file"):
        write_control_vector(
            tmp_path / "missing" / "axis.gguf", vectors(), first_layer=1, last_layer=2, scale=1.0, model_hint="g"
        )


def test_files_that_are_not_control_vectors_are_refused(tmp_path: Path) -> None:
    text = tmp_path / "notes.gguf"
    text.write_text("direction.3 = 0.5, 0.25\n" * 10)
    empty = tmp_path / "empty.gguf"
    empty.touch()
    truncated = tmp_path / "truncated.gguf"
    write_control_vector(truncated, vectors(), first_layer=1, last_layer=17, scale=1.0, model_hint="gemma3")
    truncated.write_bytes(truncated.read_bytes()[:200])
    model_like = gguf_file(tmp_path / "model.gguf", {"token_embd.weight": vectors()}, arch="gemma3")
    keys_only = gguf_file(tmp_path / "keys.gguf", {})

    cases = {
        text: r"notes.gguf is not a GGUF file \(a control vector is a .gguf file\)",
        empty: r"empty.gguf is not a GGUF file",
        truncated: r"truncated.gguf is not a readable GGUF file",
        tmp_path / "absent.gguf": r"the vector file .*absent.gguf does not exist",
        tmp_path: r"the vector file .* is a folder",
        model_like: r"model.gguf: tensor token_embd.weight is not a direction",
        keys_only: r"keys.gguf holds no control vector: a GGUF file with no direction.N tensors",
    }
    for path, message in cases.items():
        with pytest.raises(VectorFileError, match=message) as refused:
            read_control_vector(path, n_layer=N_LAYER, n_embd=N_EMBD)
        assert "\n" not in str(refused.value)


def test_a_vector_for_another_model_is_refused_by_its_size_or_layers(tmp_path: Path) -> None:
    smaller = tmp_path / "smaller.gguf"
    write_control_vector(smaller, vectors()[:, :512], first_layer=1, last_layer=5, scale=1.0, model_hint="other")
    deeper = tmp_path / "deeper.gguf"
    write_control_vector(deeper, np.ones((30, N_EMBD)), first_layer=20, last_layer=22, scale=1.0, model_hint="other")

    with pytest.raises(VectorFileError, match="smaller.gguf has 512 values per layer; this model's layers have 640"):
        read_control_vector(smaller, n_layer=N_LAYER, n_embd=N_EMBD)
    with pytest.raises(VectorFileError, match=r"steers layer 20, but this model's layers are 0-17 \(steerable: 1-17\)"):
        read_control_vector(deeper, n_layer=N_LAYER, n_embd=N_EMBD)


def test_directions_llama_cpp_would_skip_are_refused(tmp_path: Path) -> None:
    row = vectors()[0]
    cases = {
        gguf_file(tmp_path / "zero.gguf", {"direction.0": row}): "direction.0 steers layer 0, which llama.cpp never",
        gguf_file(tmp_path / "half.gguf", {"direction.2": row.astype(np.float16)}): r"direction.2 is F16 of shape",
        gguf_file(tmp_path / "square.gguf", {"direction.2": np.ones((2, N_EMBD), np.float32)}): r"of shape \(2, 640\)",
        gguf_file(tmp_path / "inf.gguf", {"direction.2": np.full(N_EMBD, np.inf, np.float32)}): "not finite",
    }
    for path, message in cases.items():
        with pytest.raises(VectorFileError, match=message):
            read_control_vector(path, n_layer=N_LAYER, n_embd=N_EMBD)
