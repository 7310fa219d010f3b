"""Two documents read in lockstep over the same tokens, compared per step: KL(A‖B) between their full next-token
distributions and the overlap of their top-k, on an in-process model (on a server, `approximate_steps`: over the
union of the returned top-k).

Each document is read the way `simulator.contexts` explains, on a scoring context of its own (never a lane's),
and the text's tokens are then decoded one at a time, as a lane decodes the tokens it samples: so the
distributions compared are the very ones a lane on either document would sample from at temperature 1. The
text's tokens are those it has after document A (`tokenize(A + text)` past A's own tokens), and B reads the same
token ids, as a contrast lane's two documents do.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from simulator.contexts import Context, read_prompt, shared_prefix
from simulator.errors import LaneError, PromptTooLong
from simulator.protocol import SimulatorProtocol
from simulator.values import Alternative, SamplingSettings, Token

if TYPE_CHECKING:
    from simulator.base import Simulator
    from simulator.worker import LocalWorker

MAX_TOP_K = 20


@dataclass(frozen=True)
class Step:
    """One position of the text: its token, KL(A‖B) in nats, and the two top-k lists (each sorted by p)."""

    text: str
    kl: float
    overlap: float  # the share of A's top-k tokens also in B's top-k
    top_a: list[Alternative]
    top_b: list[Alternative]


def next_logprobs(simulator: Simulator, document: str) -> Generator[None, None, np.ndarray]:
    """log P(each token of the vocabulary | `document`), in float64, as a step-wise job."""
    prompt = simulator.tokenize(document)
    if len(prompt) >= simulator.n_ctx:
        raise PromptTooLong(f"the document has {len(prompt)} tokens; {simulator.name} holds {simulator.n_ctx}")
    context = simulator._scoring.acquire(prompt, "compare-a")
    try:
        yield from read_prompt(context, prompt, range(0), last=True)
        return log_softmax(context.logits(-1))
    finally:
        simulator._scoring.release(context, "compare-a")


def compare_steps(
    simulator: Simulator, document_a: str, document_b: str, text: str, k: int = 5
) -> Generator[None, None, list[Step]]:
    """Per token of `text`: KL(A‖B) of the next-token distributions after `document_a` and after `document_b`
    (each followed by the text so far), and their top-k; a step-wise job (None after each decode).

    Raises:
        PromptTooLong: a document and the text together do not fit in the context.
    """
    head, whole = simulator.tokenize(document_a), simulator.tokenize(document_a + text)
    tokens = whole[shared_prefix(head, whole) :]
    prompts = [head, simulator.tokenize(document_b)]
    longest = max(len(p) for p in prompts) + len(tokens)
    if longest > simulator.n_ctx:
        raise PromptTooLong(f"{longest} tokens to compare; {simulator.name} holds {simulator.n_ctx}")
    keys = ("compare-a", "compare-b")
    contexts: list[Context] = []
    try:
        for prompt, key in zip(prompts, keys, strict=True):
            contexts.append(simulator._scoring.acquire(prompt, key))
            yield from read_prompt(contexts[-1], prompt, range(0), last=True)
        steps = []
        for position, token in enumerate(tokens):
            a, b = (log_softmax(c.logits(-1)) for c in contexts)
            steps.append(_step(simulator, token, a, b, k))
            if position + 1 < len(tokens):
                for context in contexts:
                    context.decode([token], _always)
                yield None
        return steps
    finally:
        for context, key in zip(contexts, keys, strict=False):
            simulator._scoring.release(context, key)


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """A logit row as log-probabilities, in float64 (a 262k vocabulary's tail sums to visible mass)."""
    row = logits.astype(np.float64)
    peak = row.max()
    return row - (peak + np.log(np.exp(row - peak).sum()))


def kl_divergence(a: np.ndarray, b: np.ndarray) -> float:
    """KL(A‖B) in nats from two log-distributions over the same vocabulary."""
    return float(np.sum(np.exp(a) * (a - b)))


def _step(simulator: Simulator, token: int, a: np.ndarray, b: np.ndarray, k: int) -> Step:
    top_a, top_b = _top_ids(a, k), _top_ids(b, k)
    return Step(
        text=_text(simulator, token),
        kl=max(0.0, kl_divergence(a, b)),  # rounding can leave a hair below 0 for identical distributions
        overlap=len(set(top_a) & set(top_b)) / k,  # by token id: two tokens can show as the same text
        top_a=[Alternative(text=_text(simulator, i), p=float(np.exp(a[i]))) for i in top_a],
        top_b=[Alternative(text=_text(simulator, i), p=float(np.exp(b[i]))) for i in top_b],
    )


def _top_ids(logprobs: np.ndarray, k: int) -> list[int]:
    candidates = np.argpartition(logprobs, -k)[-k:]
    return [int(i) for i in candidates[np.argsort(logprobs[candidates])[::-1]]]


def _text(simulator: Simulator, token: int) -> str:
    return simulator._piece(token).decode("utf-8", errors="replace")


def _always(_position: int) -> bool:
    return True


def compare_on_worker(
    simulator: Simulator, worker: LocalWorker, document_a: str, document_b: str, text: str, k: int
) -> list[Step]:
    """`compare_steps` run on the local worker, one decode at a time among the lanes' decodes."""

    def job() -> Iterator[list[Step] | None]:
        yield (yield from compare_steps(simulator, document_a, document_b, text, k))

    found = [item for item in simulator.run_job(job, worker) if item is not None]
    return found[-1] if found else []


def approximate_steps(
    simulator: SimulatorProtocol, document_a: str, document_b: str, pieces: Sequence[str], k: int
) -> list[Step]:
    """Per token of a text given as its `pieces`, on a model behind a server: each document and the text so far
    sent once (one token, the top-k log-probabilities), and KL(A‖B) approximated over the union of the two
    returned top-k, each renormalised there, a token missing from one list given that list's smallest p (no more
    than it can have). Two requests a token; the server's prompt cache keeps them short.

    Raises:
        LaneError, ModelUnavailable: the server failed, or returns no probabilities.
    """
    one = SamplingSettings(temperature=0.0, max_tokens=1, seed=0)
    steps = []
    for position, piece in enumerate(pieces):
        prefix = "".join(pieces[:position])
        tops = [_returned_top(simulator, document, prefix, one, k) for document in (document_a, document_b)]
        steps.append(_approximate_step(piece, tops[0], tops[1], k))
    return steps


def _returned_top(
    simulator: SimulatorProtocol, document: str, prefix: str, settings: SamplingSettings, k: int
) -> list[Alternative]:
    for item in simulator.continue_document(document, settings, alternatives=k, reply_prefix=prefix):
        if isinstance(item, Token) and item.top:
            return item.top[:k]
    raise LaneError(f"{simulator.name} returned no token probabilities to compare")


def _approximate_step(text: str, top_a: list[Alternative], top_b: list[Alternative], k: int) -> Step:
    union = list(dict.fromkeys([alt.text for alt in top_a] + [alt.text for alt in top_b]))
    a, b = (_on(union, top) for top in (top_a, top_b))
    shared = {alt.text for alt in top_a} & {alt.text for alt in top_b}
    return Step(text=text, kl=max(0.0, kl_divergence(a, b)), overlap=len(shared) / k, top_a=top_a, top_b=top_b)


def _on(union: list[str], top: list[Alternative]) -> np.ndarray:
    """log p over `union`, renormalised, from a returned top-k (a token it lacks gets its smallest p)."""
    given = {alt.text: alt.p for alt in top}
    floor = max(min(given.values()), 1e-12)
    p = np.array([max(given.get(text, floor), 1e-12) for text in union], dtype=np.float64)
    return np.log(p / p.sum())
