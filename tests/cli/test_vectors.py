# `simulacra vectors` as a user runs it: list and show a saved direction (text and --json), export it as a
# control-vector GGUF that reads back as the direction times --scale with the llama-server command that loads it,
# and one clear error line for each kind of bad input, with nothing written.

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import numpy as np

from simulator.cvec_file import read_control_vector
from simulator.registry import Registry
from tests.support.directions import random_direction, seed_directions

Run = Callable[..., subprocess.CompletedProcess[str]]


def test_list_and_show(cli: Run, tmp_path: Path, registry: Registry) -> None:
    empty = cli(tmp_path, "vectors", "list")
    assert empty.returncode == 0 and empty.stdout.startswith("no directions yet")
    seed_directions(tmp_path, registry)

    listed = cli(tmp_path, "vectors", "list")
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.splitlines()[0].split() == [
        "assistant-axis", "base", "best", "layer", "6", "AUC", "0.65", "[0.40,", "0.99]", "assistant", "−", "rogue-ai"
    ]  # fmt: skip
    assert [d["name"] for d in json.loads(cli(tmp_path, "vectors", "list", "--json").stdout)] == [
        "assistant-axis",
        "other",
    ]

    shown = cli(tmp_path, "vectors", "show", "assistant-axis")
    assert shown.returncode == 0, shown.stderr
    sha = registry.model_sha256("base")
    assert f"sha256 {sha[:12]}…" in shown.stdout and sha not in shown.stdout
    assert "mean(assistant) − mean(rogue-ai): α > 0 pushes toward assistant" in shown.stdout
    assert "      6   0.650  [0.400, 0.990]  ← best" in shown.stdout
    as_json = json.loads(cli(tmp_path, "vectors", "show", "assistant-axis", "--json").stdout)
    assert as_json["model_sha256"] == sha and as_json["best_layer"] == 6 and len(as_json["layers"]) == 18


def test_export_writes_the_direction_times_the_scale(cli: Run, tmp_path: Path, registry: Registry) -> None:
    seed_directions(tmp_path, registry)
    out = tmp_path / "axis.gguf"

    done = cli(tmp_path, "vectors", "export", "assistant-axis", "--out", str(out), "--scale", "-4", "--layers", "5-7")

    assert done.returncode == 0, done.stderr
    back = read_control_vector(out, n_layer=18, n_embd=640)
    assert np.array_equal(back[5:8], np.float32(-4) * random_direction(0)[5:8]) and not back[8:].any()
    model = registry.entries["base"].path
    assert model is not None and done.stdout.splitlines()[1].strip() == (
        f"llama-server -m {model()} --control-vector {out} --control-vector-layer-range 5 7"
    )
    default = cli(tmp_path, "vectors", "export", "assistant-axis", "--out", str(out), "--force")
    assert default.returncode == 0 and "on layer 6." in default.stdout  # the best layer, at scale 1
    assert np.array_equal(read_control_vector(out, n_layer=18, n_embd=640)[6], random_direction(0)[6])


def test_bad_input_is_one_line_and_writes_nothing(cli: Run, tmp_path: Path, registry: Registry) -> None:
    seed_directions(tmp_path, registry)
    out = tmp_path / "axis.gguf"
    cases = [
        (["show", "nope"], "error: there is no direction named 'nope': the directions are assistant-axis, other"),
        (["export", "nope", "--out", str(out)], "error: there is no direction named 'nope'"),
        (["export", "assistant-axis", "--out", str(out), "--layers", "0-20"],
         "error: layers 0-20 are out of range: base can be steered on layers 1 to 17"),
        (["export", "assistant-axis", "--out", str(out), "--layers", "six"], "error: --layers 'six': write FIRST-LAST"),
        (["export", "assistant-axis", "--out", str(out), "--scale", "inf"], "error: the scale must be a number"),
        (["export", "assistant-axis", "--out", str(tmp_path / "no" / "axis.gguf")], "error: cannot write the vector"),
    ]  # fmt: skip
    for args, error in cases:
        done = cli(tmp_path, "vectors", *args)
        assert done.returncode == 2 and done.stderr.startswith(error), (args, done.stderr)
        assert len(done.stderr.splitlines()) == 1 and not out.exists()
    out.write_bytes(b"kept")
    again = cli(tmp_path, "vectors", "export", "assistant-axis", "--out", str(out))
    assert again.returncode == 2 and again.stderr == f"error: {out} already exists; pass --force to replace it\n"
    assert out.read_bytes() == b"kept"


def test_import_a_vector_file_and_refuse_one_of_the_wrong_size(cli: Run, tmp_path: Path, registry: Registry) -> None:
    from simulator.cvec_file import write_control_vector

    made = tmp_path / "made-elsewhere.gguf"
    vectors = random_direction(3)
    write_control_vector(made, vectors, first_layer=4, last_layer=5, scale=2.0, model_hint="gemma3")

    done = cli(tmp_path, "vectors", "import", str(made), "--name", "elsewhere")

    assert done.returncode == 0, done.stderr
    shown = json.loads(cli(tmp_path, "vectors", "show", "elsewhere", "--json").stdout)
    assert shown["model_sha256"] == registry.model_sha256("base") and shown["best_layer"] in (4, 5)
    narrow = tmp_path / "narrow.gguf"
    write_control_vector(narrow, vectors[:, :512], first_layer=4, last_layer=4, scale=1.0, model_hint="other")
    refused = cli(tmp_path, "vectors", "import", str(narrow), "--name", "narrow")
    assert refused.returncode != 0
    assert refused.stderr.strip().splitlines() == [
        f"error: the vector file {narrow} has 512 values per layer; this model's layers have 640"
    ]
    assert [d["name"] for d in json.loads(cli(tmp_path, "vectors", "list", "--json").stdout)] == ["elsewhere"]
    not_gguf = cli(tmp_path, "vectors", "import", str(tmp_path / "nothing.gguf"), "--name", "x")
    assert not_gguf.returncode != 0 and len(not_gguf.stderr.strip().splitlines()) == 1
