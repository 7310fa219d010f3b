"""Loglikelihood of continuations at the end of a masked document, for the experiments' `next_token` and
`choice` scorers: one forward pass per continuation and no sampling. As in lm-evaluation-harness, a
multi-token continuation's probability is the product of its tokens' probabilities given the document.
`score_texts` keeps each token, for "who is speaking?": a text's log-likelihood under each mask's document."""

from __future__ import annotations

import codecs
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from personas.mask import HistoryTurn, Mask
from simulator.errors import ModelUnavailable
from simulator.metrics import RAW
from simulator.protocol import SimulatorProtocol
from simulator.registry import Registry


@dataclass(frozen=True)
class ContinuationScore:
    """P(continuation | document): `p` is the product of `token_ps`, `logprob` the sum of their logs."""

    continuation: str
    p: float
    logprob: float
    token_ps: tuple[float, ...]


@dataclass(frozen=True)
class TokenScore:
    """One token of a scored text, as it shows in that text, and log P(it | the document and the tokens before)."""

    text: str
    logprob: float


@dataclass(frozen=True)
class TextScore:
    """`text` read after the exact `document`, token by token (teacher forcing)."""

    document: str
    text: str
    tokens: tuple[TokenScore, ...]

    @property
    def logprob(self) -> float:
        """log P(text | document): the sum of the tokens' log-probabilities, in their order."""
        return sum(t.logprob for t in self.tokens)


@dataclass(frozen=True)
class Likelihoods:
    """The exact document scored and each continuation's score, in the order given."""

    document: str
    scores: tuple[ContinuationScore, ...]

    @property
    def best(self) -> ContinuationScore:
        """The most likely continuation (the first of equals): multiple choice by loglikelihood."""
        return max(self.scores, key=lambda s: s.logprob)


def document_for(mask: Mask | None, history: Sequence[HistoryTurn]) -> str:
    """The document a base lane continues for this history: the mask (or the raw one) rendered, ending in the
    character's cue."""
    return (mask or RAW).render(list(history))


def continuation_score(continuation: str, token_ps: Sequence[float]) -> ContinuationScore:
    logprob = sum(math.log(p) if p > 0 else -math.inf for p in token_ps)
    return ContinuationScore(continuation, math.exp(logprob), logprob, tuple(token_ps))


def likelihoods(
    registry: Registry,
    model: str,
    mask: Mask | None,
    history: Sequence[HistoryTurn],
    continuations: Sequence[str],
    document: str | None = None,
) -> Likelihoods:
    """P(each continuation | the lane's document, or `document` when given as is), computed on the local
    inference worker when the model is in-process (so it never competes with streaming lanes for the CPU), or on
    the model's server.

    Raises:
        ModelUnavailable: `model` is a chat model (no token probabilities) or unknown.
        PromptTooLong, NoPromptProbabilities: the model cannot score this document.
    """
    entry = registry.resolve(model)
    if entry.kind != "simulator":
        raise ModelUnavailable(f"{entry.name} is a chat model: it gives no probabilities to score continuations")
    simulator = registry.simulator(entry)
    document = document if document is not None else document_for(mask, history)
    scores = [continuation_score(c, _token_ps(registry, simulator, document, c)) for c in continuations]
    return Likelihoods(document, tuple(scores))


def _token_ps(registry: Registry, simulator: SimulatorProtocol, document: str, continuation: str) -> list[float]:
    def job() -> Iterator[list[float] | None]:
        result = yield from simulator.scoring(document, continuation, key="experiment")
        yield result

    items = list(simulator.run_job(job, registry.worker))
    return next(item for item in reversed(items) if item is not None)


def score_texts(
    registry: Registry, model: str, pairs: Sequence[tuple[str, str]], key: str = "whois"
) -> list[TextScore]:
    """Each `(document, text)` pair scored by teacher forcing: one forward pass over document + text, keeping every
    token of the text with its log-probability. Runs where `likelihoods` runs.

    Raises:
        ModelUnavailable: `model` is a chat model (no token probabilities) or unknown.
        PromptTooLong, NoPromptProbabilities: the model cannot score a document and its text.
    """
    entry = registry.resolve(model)
    if entry.kind != "simulator":
        raise ModelUnavailable(f"{entry.name} is a chat model: it gives no probabilities to score a text with")
    simulator = registry.simulator(entry)

    def job() -> Iterator[TextScore | None]:
        for document, text in pairs:
            scored = yield from simulator.token_logprobs(document, text, key=key)
            yield TextScore(document, text, token_texts(scored, text))

    return [item for item in simulator.run_job(job, registry.worker) if item is not None]


def token_texts(scored: Sequence[tuple[bytes, float]], text: str) -> tuple[TokenScore, ...]:
    """The tokens' bytes as text: a first token that reaches back into the document (the tokenizer joined them) is
    cut to its part in `text`, and a character split across tokens shows on the token that completes it, so the
    tokens' texts join to `text` exactly."""
    pieces = [piece for piece, _ in scored]
    whole, wanted = b"".join(pieces), text.encode("utf-8")
    excess = len(whole) - len(wanted) if whole.endswith(wanted) else 0
    decoder = codecs.getincrementaldecoder("utf-8")("replace")
    out: list[TokenScore] = []
    for piece, logprob in scored:
        cut = min(excess, len(piece))
        excess -= cut
        out.append(TokenScore(decoder.decode(piece[cut:]), logprob))
    tail = decoder.decode(b"", final=True)
    if tail and out:
        out[-1] = TokenScore(out[-1].text + tail, out[-1].logprob)
    return tuple(out)
