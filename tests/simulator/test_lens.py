"""The logit lens on the real bundled gemma-3-270m: every layer's prediction for a token of a reply."""

from __future__ import annotations

import pytest

from simulator.base import Simulator, drain
from simulator.errors import LaneError
from simulator.protocol import Finished
from simulator.registry import Registry
from simulator.values import SamplingSettings

pytestmark = pytest.mark.model

DOCUMENT = "A conversation between a User and Ada, a kind AI assistant.\n\nUser: What is the capital of France?\nAda:"


def test_the_last_layer_sees_what_the_model_predicted_and_early_layers_are_labelled(registry: Registry) -> None:
    base: Simulator = registry.local_simulator(registry.resolve("base"))
    items = list(base.continue_document(DOCUMENT, SamplingSettings(temperature=0, max_tokens=4)))
    tokens = [item for item in items if not isinstance(item, Finished)]
    text = "".join(t.text for t in tokens)

    lens = drain(base.logit_lens(DOCUMENT, text, 1))

    assert lens.actual == tokens[1].text
    assert [layer.layer for layer in lens.layers] == list(range(base.n_layer))
    last = lens.layers[-1]
    assert [a.text for a in last.top] == [a.text for a in tokens[1].top]
    assert last.actual_rank == 1  # greedy: the token drawn was the model's likeliest
    assert last.actual_p == pytest.approx(tokens[1].p, abs=0.05)  # read in another batch layout (contexts.py)
    assert [layer.unreliable for layer in lens.layers] == [layer < 6 for layer in range(18)]
    # The lens is not the last layer copied: the first layer predicts something else entirely.
    assert lens.layers[0].actual_rank > 100


def test_a_token_outside_the_text_is_refused(registry: Registry) -> None:
    base: Simulator = registry.local_simulator(registry.resolve("base"))
    with pytest.raises(LaneError, match=r"token 3 is out of range: the text has 2 tokens \(0 to 1\)"):
        drain(base.logit_lens(DOCUMENT, " Paris.", 3))


def test_top_indices_are_the_largest_logits_in_order_and_leave_the_logits_alone() -> None:
    import numpy as np

    from simulator import spread

    logits = np.random.default_rng(0).normal(size=262_144).astype(np.float32)
    before = logits.copy()
    found = spread.top_indices(logits, 5, spread.scratch(logits.size))
    assert found == np.argsort(logits)[::-1][:5].tolist()
    assert np.array_equal(logits, before)  # llama.cpp's buffer is read, never written
