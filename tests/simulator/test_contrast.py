# Two masks contrasted on the bundled gemma base model: a contrast lane's first token is drawn from
# p_A^(1+γ) / p_B^γ computed here, independently, from the two masks' own next-token distributions; with γ = 0
# it writes plain A's reply token for token; and two documents compared per step give KL(A‖B) and top-k overlap.

from __future__ import annotations

import numpy as np
import pytest

from personas.catalog import load_mask
from personas.mask import HistoryTurn
from simulator.base import Simulator, drain
from simulator.compare import compare_steps, kl_divergence, next_logprobs
from simulator.contrast import Documents, continue_contrast
from simulator.metrics import Measured, measure, perplexity
from simulator.protocol import Finished
from simulator.registry import Registry
from simulator.values import SamplingSettings, Token

pytestmark = pytest.mark.model

QUESTION = [HistoryTurn(role="user", text="What is the capital of France?")]
A = load_mask("assistant").render(QUESTION)
B = load_mask("quiz").render(QUESTION)


@pytest.fixture(scope="module")
def base(registry: Registry) -> Simulator:
    simulator = registry.simulator(registry.resolve("base"))
    assert isinstance(simulator, Simulator)
    return simulator


def tokens(steps: list[Token | Finished]) -> list[Token]:
    assert isinstance(steps[-1], Finished)
    return [step for step in steps if isinstance(step, Token)]


def test_the_first_token_is_drawn_from_p_a_to_the_1_plus_gamma_over_p_b_to_the_gamma(base: Simulator) -> None:
    gamma = 1.5
    log_a, log_b = drain(next_logprobs(base, A)), drain(next_logprobs(base, B))
    mixed = (1 + gamma) * log_a - gamma * log_b
    expected = np.exp(mixed - mixed.max())
    expected /= expected.sum()
    greedy = SamplingSettings(temperature=0.0, max_tokens=1, seed=1)

    [first] = tokens(list(continue_contrast(base, Documents(A, B, gamma), greedy, lane_key="t", alternatives=10)))

    ranked = np.argsort(expected)[::-1][:10]
    assert [alt.text for alt in first.top] == [base._piece(int(i)).decode() for i in ranked]
    assert [alt.p for alt in first.top] == pytest.approx([expected[i] for i in ranked], abs=1e-4)
    assert first.text == first.top[0].text and first.p == pytest.approx(expected[ranked[0]], abs=1e-4)
    # Not plain A in disguise: the quiz mask's pull is subtracted.
    plain = np.exp(log_a)
    assert abs(plain[ranked[0]] - expected[ranked[0]]) > 0.01


def test_gamma_zero_writes_plain_a_reply_with_the_same_seed(base: Simulator) -> None:
    warm = SamplingSettings(temperature=0.9, max_tokens=24, seed=7)

    plain = tokens(list(base.continue_document(A, warm, lane_key="plain")))
    contrasted = tokens(list(continue_contrast(base, Documents(A, B, 0.0), warm, lane_key="contrast")))

    assert contrasted == plain and len(plain) > 3


def test_two_documents_compared_per_step(base: Simulator) -> None:
    text = " The capital of France is Paris."

    same = drain(compare_steps(base, A, A, text, k=5))
    apart = drain(compare_steps(base, A, B, text, k=5))

    assert "".join(step.text for step in same) == text
    assert all(step.kl == pytest.approx(0, abs=1e-9) and step.overlap == 1 for step in same)
    first = kl_divergence(drain(next_logprobs(base, A)), drain(next_logprobs(base, B)))
    assert apart[0].kl == pytest.approx(first, rel=1e-6) and first > 0.05
    assert any(step.overlap < 1 for step in apart)
    assert [alt.text for alt in apart[0].top_a] == [alt.text for alt in same[0].top_a]


def test_a_contrast_replys_perplexity_and_mask_effect_are_under_its_own_mask(base: Simulator) -> None:
    # Its tokens carry the mixed distribution's p; the badges must speak of the mask A the lane wears.
    warm = SamplingSettings(temperature=0.9, max_tokens=16, seed=3)
    steps = list(continue_contrast(base, Documents(A, B, 3.0), warm, lane_key="contrast"))
    reply = Measured(load_mask("assistant"), QUESTION, A, tokens(steps), steps[-1], "contrast", contrasted=True)

    metrics = [*measure(base, reply)][-1]

    text = "".join(token.text for token in reply.tokens)
    assert metrics is not None
    assert metrics.perplexity == pytest.approx(perplexity(drain(base.scoring(A, text, key="check"))), rel=1e-6)
    assert metrics.perplexity != pytest.approx(perplexity([t.p for t in reply.tokens if t.p is not None]), rel=0.05)
    assert metrics.mask_effect == pytest.approx(metrics.raw_perplexity / metrics.perplexity)
