"""The Vectors service on a real SQLite file (and PostgreSQL): a direction saved and read back with its provenance,
a name's newest wins while a steering keeps its own numbers, a steering resolved and checked against the lane's
model (each refusal one line), and an export that llama.cpp's reader reads back as the same numbers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import Engine

from simulator.cvec_file import read_control_vector
from simulator.errors import LaneSpecError
from simulator.registry import ModelEntry, Registry
from simulator.steering import SteeringRefused
from storage.db import make_engine
from tests.support.directions import random_direction, save_direction
from ui.service.errors import ServiceError
from ui.service.vectors.service import Vectors
from ui.service.vectors.views import parse_steer


@pytest.fixture
def vectors(engine: Engine, registry: Registry) -> Vectors:
    return Vectors(engine, registry)


def test_a_saved_direction_reads_back_with_its_provenance(vectors: Vectors, registry: Registry) -> None:
    saved = save_direction(vectors, registry)
    shown = vectors.show("assistant-axis")
    assert shown == saved and [d.name for d in vectors.list()] == ["assistant-axis"]
    assert (shown.n_layer, shown.n_embd, shown.best_layer) == (18, 640, 6)
    assert shown.toward == "assistant" and shown.away == "rogue-ai" and shown.n == {"assistant": 8, "rogue-ai": 8}
    assert shown.best is not None and shown.best.auc == pytest.approx(0.65) and len(shown.layers) == 18
    assert shown.model_sha256 == registry.model_sha256("base") and shown.suite == "assistant-axis"
    assert np.array_equal(vectors.array("assistant-axis"), random_direction(0))


def test_the_newest_of_a_name_wins_but_a_steering_keeps_its_numbers(vectors: Vectors, registry: Registry) -> None:
    save_direction(vectors, registry, seed=0)
    old = vectors.resolve("assistant-axis", -4)
    assert (old.first_layer, old.last_layer, old.alpha) == (6, 6, -4)
    assert old.label == "assistant-axis α −4 (L6)"
    save_direction(vectors, registry, seed=1, best_layer=7)
    assert vectors.resolve("assistant-axis", 2).first_layer == 7
    assert np.array_equal(vectors.control_vector(old).vectors, random_direction(0))
    ranged = vectors.resolve_request(parse_steer("assistant-axis:0.5:3-9"), model="base")
    assert (ranged.first_layer, ranged.last_layer, ranged.label) == (3, 9, "assistant-axis α 0.5 (L3–9)")
    assert np.array_equal(vectors.control_vector(ranged).vectors, random_direction(1))


def test_unknown_names_and_bad_steerings_are_one_line(vectors: Vectors, registry: Registry) -> None:
    with pytest.raises(ServiceError, match="^there is no direction named 'nope': this database has none yet"):
        vectors.show("nope")
    save_direction(vectors, registry)
    save_direction(vectors, registry, "other", seed=3)
    with pytest.raises(ServiceError, match="^there is no direction named 'nope': the directions are assistant-axis,"):
        vectors.resolve("nope", 1)
    with pytest.raises(LaneSpecError, match="^layers 0-20 are out of range: base can be steered on layers 1 to 17$"):
        vectors.resolve("assistant-axis", 1, (0, 20))
    with pytest.raises(LaneSpecError, match="^layer 18 is out of range"):
        vectors.resolve_request(parse_steer("assistant-axis:1:18"))
    for typed, problem in [("assistant-axis", "cannot read"), ("assistant-axis:1e9", "α"), ("a:nan", "α")]:
        with pytest.raises(LaneSpecError, match=problem):
            parse_steer(typed)


def test_a_steering_is_checked_against_the_lanes_model(vectors: Vectors, registry: Registry) -> None:
    save_direction(vectors, registry)
    save_direction(vectors, registry, "elsewhere", model_sha256="f" * 64)
    with pytest.raises(LaneSpecError, match="^chat is a chat model: steering adds a direction"):
        vectors.resolve("assistant-axis", 1, model="chat")
    server = ModelEntry(name="gemma-server", kind="simulator", api="openai-completions", api_base="http://x/v1")
    with pytest.raises(LaneSpecError, match="^gemma-server runs on a server, which cannot be steered per request"):
        vectors.check(vectors.resolve("assistant-axis", 1), server)
    with pytest.raises(SteeringRefused, match="^elsewhere: this direction was computed on another model"):
        vectors.resolve("elsewhere", 1, model="base")


def test_a_steering_whose_direction_is_gone_says_so(vectors: Vectors, registry: Registry, tmp_path: Path) -> None:
    save_direction(vectors, registry)
    steering = vectors.resolve("assistant-axis", 1)
    other = Vectors(make_engine(f"sqlite:///{tmp_path / 'other.db'}"), registry)
    try:
        with pytest.raises(ServiceError, match=r"^the direction 'assistant-axis' this lane is steered with \(vector"):
            other.control_vector(steering)
    finally:
        other.engine.dispose()


def test_an_export_reads_back_as_the_direction(vectors: Vectors, registry: Registry, tmp_path: Path) -> None:
    save_direction(vectors, registry)
    out = tmp_path / "axis.gguf"
    exported = vectors.export("assistant-axis", out, scale=-4, layers=(5, 7))
    back = read_control_vector(out, n_layer=18, n_embd=640)
    expected = random_direction(0)
    # The very numbers a lane steered here at α = -4 on layers 5-7 adds (ControlVector.buffer).
    steered = vectors.control_vector(vectors.resolve("assistant-axis", -4, (5, 7))).buffer()
    assert np.array_equal(back[1:], steered) and np.array_equal(back[5:8], np.float32(-4) * expected[5:8])
    assert exported.command.startswith("llama-server -m /") and exported.command.endswith(
        f"--control-vector {out} --control-vector-layer-range 5 7"
    )
    with pytest.raises(LaneSpecError, match="scale"):
        vectors.export("assistant-axis", out, scale=float("inf"))
