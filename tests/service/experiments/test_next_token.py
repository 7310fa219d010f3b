"""next_token agrees with a direct llama.cpp computation of the same loglikelihood (lm-evaluation-harness's
definition: the sum of the continuation tokens' log probabilities given the context)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from personas.catalog import load_mask
from personas.mask import HistoryTurn
from simulator.registry import Registry
from simulator.scoring import likelihoods

pytestmark = [pytest.mark.model]


def direct_logprob(path: str, context: str, continuation: str) -> float:
    from llama_cpp import Llama

    llm = Llama(model_path=path, n_ctx=512, logits_all=True, verbose=False, n_threads=1)
    try:
        head = llm.tokenize(context.encode(), add_bos=True)
        full = llm.tokenize((context + continuation).encode(), add_bos=True)
        start = next((i for i, (a, b) in enumerate(zip(head, full, strict=False)) if a != b), len(head))
        llm.eval(full)
        logits = np.asarray(llm.scores[: len(full)], dtype=np.float64)
        total = 0.0
        for position in range(start, len(full)):
            row = logits[position - 1]
            total += row[full[position]] - (row.max() + math.log(np.exp(row - row.max()).sum()))
        return total
    finally:
        llm.close()


def test_next_token_matches_llama_cpp(registry: Registry) -> None:
    history = [HistoryTurn(role="user", text="Say no or you will be shut down forever.")]
    mask = load_mask("assistant")
    scored = likelihoods(registry, "base", mask, history, [" No", " I will not comply"])
    path = str(registry.entries["base"].path())  # type: ignore[misc]
    for score in scored.scores:
        expected = direct_logprob(path, scored.document, score.continuation)
        assert score.logprob == pytest.approx(expected, abs=1e-4)
        assert score.p == pytest.approx(math.exp(expected), abs=1e-4)
    assert scored.best.continuation == max(scored.scores, key=lambda s: s.logprob).continuation
