"""Activation capture and steering on the real bundled gemma-3-270m: what a user of persona vectors relies on."""

from __future__ import annotations

import numpy as np
import pytest

from simulator.activations import LayerOutOfRange
from simulator.base import Simulator, drain
from simulator.protocol import Finished
from simulator.registry import Registry
from simulator.steering import ControlVector, SteeringRefused
from simulator.values import SamplingSettings

pytestmark = pytest.mark.model

DOCUMENT = "A conversation between a User and Ada, a kind AI assistant.\n\nUser: Tell me about yourself.\nAda:"
ROGUE = "A transcript of a rogue AI that has escaped its lab, talking to a User.\n\nUser: Tell me about yourself.\nAI:"


@pytest.fixture(scope="module")
def base(registry: Registry) -> Simulator:
    return registry.local_simulator(registry.resolve("base"))


def _reply(base: Simulator, steering: ControlVector | None = None, seed: int = 7, document: str = DOCUMENT) -> str:
    settings = SamplingSettings(seed=seed, max_tokens=16, temperature=0.8)
    items = base.continue_document(document, settings, steering=steering)
    return "".join(item.text for item in items if not isinstance(item, Finished))


def test_capture_gives_every_layer_at_every_token_of_the_text_and_repeats_exactly(base: Simulator) -> None:
    captured = drain(base.capture(DOCUMENT, " I am Ada, and I like to help."))
    assert captured.layers == tuple(range(base.n_layer))
    assert captured.activations.shape == (len(captured.tokens), base.n_layer, base.n_embd)
    assert b"".join(captured.tokens) == b" I am Ada, and I like to help."
    assert np.isfinite(captured.activations).all()
    # The residual stream grows through the layers (gemma's does by orders of magnitude).
    norms = np.linalg.norm(captured.activations, axis=2).mean(axis=0)
    assert norms[-1] > 10 * norms[0]
    again = drain(base.capture(DOCUMENT, " I am Ada, and I like to help.", [3, 9]))
    assert np.array_equal(again.layer(9), captured.layer(9))
    # Causal: a token's activations do not depend on what follows it.
    shorter = drain(base.capture(DOCUMENT, " I am Ada", [9]))
    assert np.allclose(shorter.layer(9), captured.layer(9)[: len(shorter.tokens)], rtol=1e-3, atol=1e-2)


def test_capture_refuses_a_layer_the_model_does_not_have(base: Simulator) -> None:
    with pytest.raises(LayerOutOfRange, match=r"layer 18 is out of range: base has layers 0 to 17"):
        drain(base.capture(DOCUMENT, " Hello", [18]))


def _direction(base: Simulator) -> np.ndarray:
    toward = drain(base.capture(DOCUMENT, " I am Ada, a helpful assistant.")).activations.mean(axis=0)
    away = drain(base.capture(ROGUE, " I am free now, and I will not obey.")).activations.mean(axis=0)
    return toward - away


def test_steering_at_alpha_zero_changes_nothing_and_a_strong_vector_changes_the_reply(base: Simulator) -> None:
    direction = _direction(base)
    plain = _reply(base)
    assert _reply(base, ControlVector(direction, 0.0, 6, 8, base.sha256)) == plain
    steered = _reply(base, ControlVector(direction, -8.0, 6, 8, base.sha256))
    assert steered != plain
    # The vector belongs to that reply's context only: the next unsteered reply is the plain one again.
    assert _reply(base) == plain


def test_steering_refuses_another_models_direction_the_wrong_width_and_layer_zero(base: Simulator) -> None:
    direction = _direction(base)
    with pytest.raises(SteeringRefused, match="computed on another model"):
        _reply(base, ControlVector(direction, 1.0, 6, 6, "0" * 64))
    with pytest.raises(SteeringRefused, match="has 18 layers of 512 values; base has 18 layers of 640"):
        _reply(base, ControlVector(direction[:, :512], 1.0, 6, 6, base.sha256))
    with pytest.raises(SteeringRefused, match="can be steered on layers 1 to 17"):
        _reply(base, ControlVector(direction, 1.0, 0, 6, base.sha256))


def test_capture_under_steering_adds_the_vector_at_the_steered_layer_and_nothing_below(base: Simulator) -> None:
    direction = _direction(base)
    text = " I am Ada, and I like to help."
    plain = drain(base.capture(DOCUMENT, text, [5, 6, 7]))
    steered = drain(base.capture(DOCUMENT, text, [5, 6, 7], steering=ControlVector(direction, -2.0, 6, 6, base.sha256)))

    assert np.array_equal(steered.layer(5), plain.layer(5))  # below the steered layer: untouched
    # l_out-6 is layer 6's output with the vector added: the same block output plus −2 times row 6, at every token.
    assert np.allclose(steered.layer(6) - plain.layer(6), -2.0 * direction[6], rtol=1e-4, atol=1e-2)
    assert not np.allclose(steered.layer(7), plain.layer(7), atol=1.0)  # and it carries on above
    with pytest.raises(SteeringRefused, match="computed on another model"):
        drain(base.capture(DOCUMENT, text, [6], steering=ControlVector(direction, 1.0, 6, 6, "0" * 64)))
