"""A contrast lane ("A − B"): one base model reading two masks' documents in lockstep, sampling each token from
p_A^(1+γ) / p_B^γ, renormalised, that is from the logits (1+γ)·logit_A − γ·logit_B. Every sampled token is
appended to both documents, so B keeps predicting the same reply A writes.

The mixed logits are written over A's own logit row in llama.cpp's buffer before its sampler reads it, so the
lane's usual chain (top-k, top-p, temperature, seeded draw) runs unchanged on the contrast distribution. With
γ = 0 the row is A's, bit for bit ((1+0)·a − 0·b = a in float32), and the reply is plain A's for the same seed.
Both documents are read the way `simulator.contexts` explains, each in a lane context of its own, so a replay
with the same seed lands on the same logits whatever the caches held. In-process only: a server returns no
logits to mix.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from simulator import spread
from simulator.base import drain
from simulator.contexts import Context, read_prompt
from simulator.errors import LaneError, PromptTooLong
from simulator.loading import new_sampler
from simulator.protocol import Finished, SimulatorProtocol
from simulator.stops import StopWriter
from simulator.values import FinishReason, SamplingSettings, Token

if TYPE_CHECKING:
    from llama_cpp import _internals as internals

    from personas.mask import Mask
    from simulator.base import Simulator
    from simulator.worker import LocalWorker


@dataclass(frozen=True)
class ContrastConfig:
    """A lane's second mask B and the contrast's weight γ; `document` is B's exact document for a replay or a
    branch (else B is rendered on the lane's history)."""

    mask: Mask
    gamma: float
    document: str | None = None


@dataclass(frozen=True)
class Documents:
    """What a contrast lane reads: A's document (the lane's own mask), B's, and the weight γ of the contrast."""

    a: str
    b: str
    gamma: float


def mix(a: np.ndarray, b: np.ndarray, gamma: float, out: np.ndarray, spare: np.ndarray) -> np.ndarray:
    """(1+γ)·a − γ·b into `out`, in float32 (`spare` is scratch): the contrast's logits."""
    np.multiply(a, np.float32(1.0 + gamma), out=out)
    np.multiply(b, np.float32(gamma), out=spare)
    np.subtract(out, spare, out=out)
    return out


def contrast_lane(
    simulator: SimulatorProtocol,
    documents: Documents,
    settings: SamplingSettings,
    worker: LocalWorker,
    cancel: threading.Event,
    *,
    lane_key: str,
    alternatives: int,
    reply_prefix: str,
    cue: str,
) -> Iterator[Token | Finished]:
    """A contrast lane's reply, on the local worker among the other lanes' decodes.

    Raises:
        LaneError: the model runs on a server, which returns no logits to mix.
    """
    from simulator.base import Simulator

    if not isinstance(simulator, Simulator):
        raise LaneError(
            f"a contrast lane mixes two masks' logits, which only an in-process model gives: {simulator.name}"
            " runs on a server; use a local base model (e.g. base)"
        )
    return simulator.run_job(
        lambda: continue_contrast(
            simulator,
            documents,
            settings,
            lane_key=lane_key,
            alternatives=alternatives,
            cancel=cancel,
            reply_prefix=reply_prefix,
            cue=cue,
        ),
        worker,
        cancel,
    )


def continue_contrast(
    simulator: Simulator,
    documents: Documents,
    settings: SamplingSettings,
    *,
    lane_key: str,
    alternatives: int = 5,
    cancel: threading.Event | None = None,
    reply_prefix: str = "",
    cue: str = "",
) -> Iterator[Token | Finished]:
    """`Simulator.continue_document` for a contrast lane: `Token`s sampled from the contrast distribution, each
    with its probability and top alternatives under that distribution, then one `Finished` (its `cue_p` measured
    on A's document).

    Raises:
        PromptTooLong: either document leaves no room in the context.
    """
    prompts = [simulator.tokenize(document + reply_prefix) for document in (documents.a, documents.b)]
    longest = max(len(p) for p in prompts)
    if longest >= simulator.n_ctx:
        raise PromptTooLong(f"the documents have up to {longest} tokens; {simulator.name} holds {simulator.n_ctx}")
    max_tokens = min(settings.max_tokens, simulator.n_ctx - longest)
    seed = settings.seed if settings.seed is not None else random.randrange(2**31)
    cue_targets = simulator._cue_targets(documents.a, cue, prompts[0])
    keys = (lane_key, f"{lane_key}-contrast")
    contexts: list[Context] = []
    sampler = None
    try:
        for prompt, key in zip(prompts, keys, strict=True):
            contexts.append(simulator._lanes.acquire(prompt, key))
        cue_probabilities = drain(read_prompt(contexts[0], prompts[0], cue_targets, last=True))
        drain(read_prompt(contexts[1], prompts[1], range(0), last=True))
        sampler = new_sampler(settings, seed)
        writer = StopWriter([s for s in settings.stop if s], reply_prefix)
        steps = _generate(simulator, contexts, documents.gamma, sampler, writer, max_tokens, alternatives, cancel)
        reason = yield from steps
        cue_p = float(np.prod(cue_probabilities)) if cue_targets else None
        yield Finished(reason=reason, seed=seed, stop=writer.stopped, cue_p=cue_p)
    finally:
        if sampler is not None:
            sampler.close()
        for context, key in zip(contexts, keys, strict=False):
            simulator._lanes.release(context, key)


def _generate(
    simulator: Simulator,
    contexts: list[Context],
    gamma: float,
    sampler: internals.LlamaSampler,
    writer: StopWriter,
    max_tokens: int,
    alternatives: int,
    cancel: threading.Event | None,
) -> Generator[Token, None, FinishReason]:
    """`Simulator._generate`'s steps, on the mixed logits, decoding each token into both contexts."""
    import llama_cpp

    first, second = contexts
    vocab = simulator._loaded().vocab
    mixed, spare = (np.empty(first.n_vocab, dtype=np.float32) for _ in range(2))
    scratch = spread.scratch(first.n_vocab)
    generated = 0
    while True:
        if cancel is not None and cancel.is_set():
            yield from writer.flush()
            return "cancelled"
        row = first.logits(-1)
        mix(row, second.logits(-1), gamma, mixed, spare)
        row[:] = mixed  # the sampler reads A's row from llama.cpp's buffer: it now holds the contrast
        token_id = sampler.sample(first.native, -1)
        if llama_cpp.llama_vocab_is_eog(vocab, token_id):
            yield from writer.flush()
            return "stop"
        p, top, entropy = simulator._distribution(mixed, scratch, token_id, alternatives)
        generated += 1
        yield from writer.add(simulator._piece(token_id), p, top, entropy)
        if writer.stopped is not None:
            return "stop"
        if generated >= max_tokens:
            yield from writer.flush()
            return "length"
        for context in contexts:
            context.decode([token_id], _always)


def _always(_position: int) -> bool:
    return True
