"""llama.cpp contexts over one shared model, the pool lanes borrow them from, and the one way prompts are read.

Why prompts are read in a fixed way: on llama.cpp's CPU backend a token's activations depend, in their last
bits, on how its decode batch is laid out. Measured on gemma-3-270m: logits moved by up to 1.0 between a
document read in one batch and the same document read in batches of 9 tokens, plenty to change a token
sampled at temperature 0.8, so a replay with the same seed would drift whenever the context it landed on
held a different prefix. Batches whose size is a multiple of 8 gave bit-identical results however they were
split (28 documents of 100-500 tokens, each read with two random splits and once from a reused prefix, on 1
and 2 threads). So a prompt is read in multiple-of-8 batches from a multiple-of-8 position, and its last
`len % 8` tokens in one batch of their own; a context reuses its cache only up to the multiple of 8 it read
that way (`canonical`). The cache for a document is then the same, bit for bit, whatever the context held
before. Generated tokens (decoded one at a time) are never reused as prompt, so a lane's next turn re-reads
its last reply and up to 7 tokens before it.
"""

from __future__ import annotations

import ctypes
import itertools
import math
import threading
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass, field
from typing import Any

import llama_cpp
import numpy as np
from llama_cpp import _internals as internals

from simulator.errors import LaneError
from simulator.steering import ControlVector, SteeringRefused
from simulator.threads import fit

GRAIN = 8  # batch sizes and reuse points are multiples of this (see above)
BATCH = 512  # the largest decode, as llama-cpp-python's default
MAX_OUTPUTS = 16  # logit rows per decode: each is 1 MB on a 262k vocabulary, and llama.cpp keeps its largest buffer

_clock = itertools.count(1)
# What `read_prompt` computes from a position's logits, the token that follows it and a scratch row.
Measure = Callable[[np.ndarray, int, np.ndarray], float]


@dataclass(eq=False)
class Context:
    """One llama.cpp context and what its KV cache holds."""

    native: internals.LlamaContext
    batch: internals.LlamaBatch
    n_vocab: int
    key: str
    tokens: list[int] = field(default_factory=list)  # the KV cache, one token per position
    canonical: int = 0  # positions [0, canonical) were read in multiple-of-8 batches: reusable bit for bit
    busy: bool = False
    last_used: int = 0
    sequences: int = 1  # KV streams: sequence 0 is what `tokens` describes; `simulator.batch` uses the others
    cells: int = 0  # the KV cells of each stream
    steering: str = ""  # the control vector (`simulator.steering`) its cache was computed under; "" for none
    recorder: Any = None  # a capture context's eval callback (`simulator.activations.Recorder`)
    threads: int | None = None  # the user's fixed thread count; None: fitted to the free cores every decode
    applied: int = 0  # the thread count llama.cpp runs it with now

    @property
    def handle(self) -> llama_cpp.llama_context_p:
        return self.native.ctx

    def reusable(self, prompt: Sequence[int]) -> int:
        """How many leading positions of `prompt` this context can keep (a multiple of GRAIN)."""
        n = min(shared_prefix(self.tokens, prompt), self.canonical)
        return n - n % GRAIN

    def truncate(self, n: int) -> None:
        self.native.kv_cache_seq_rm(0, n, -1)
        del self.tokens[n:]
        self.canonical = min(self.canonical, n - n % GRAIN)

    def decode(self, tokens: Sequence[int], outputs: Callable[[int], bool]) -> None:
        """Append `tokens` to the cache; logits are kept for the positions where `outputs(position)` holds.

        Raises:
            LaneError: llama.cpp refused the batch (for instance, the context is full).
        """
        batch, start = self.batch.batch, len(self.tokens)
        batch.n_tokens = len(tokens)
        for j, token in enumerate(tokens):
            batch.token[j] = token
            batch.pos[j] = start + j
            batch.n_seq_id[j] = 1
            batch.seq_id[j][0] = 0
            batch.logits[j] = outputs(start + j)
        code = self.run(batch)
        if code != 0:
            raise LaneError(f"llama.cpp could not decode {len(tokens)} tokens at position {start} (code {code})")
        self.tokens.extend(tokens)

    def run(self, batch: llama_cpp.llama_batch) -> int:
        """llama.cpp's decode of `batch`, with the threads that fit the machine now (`simulator.threads`); every
        decode of every context goes through here. Returns llama.cpp's code (0: decoded)."""
        self.applied = fit(self.handle, self.threads, self.applied)
        return int(llama_cpp.llama_decode(self.handle, batch))

    def logits(self, index: int) -> np.ndarray:
        """The logits of row `index` of the last decode (-1: its last row), read in place."""
        return np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(self.handle, index), shape=(self.n_vocab,))

    def steer(self, control: ControlVector | None) -> None:
        """Add `control` to what this context computes (None: nothing), emptying the cache when that changes."""
        key = "" if control is None else control.key
        if self.steering == key:
            return
        self.truncate(0)
        self.native.kv_cache_clear()
        if control is None:
            width = llama_cpp.llama_model_n_embd(llama_cpp.llama_get_model(self.handle))
            code = llama_cpp.llama_set_adapter_cvec(self.handle, None, 0, width, -1, -1)
        else:
            data = control.buffer()
            pointer = data.ctypes.data_as(ctypes.POINTER(ctypes.c_float))
            code = llama_cpp.llama_set_adapter_cvec(
                self.handle, pointer, data.size, data.shape[1], control.first_layer, control.last_layer
            )
        if code != 0:
            raise SteeringRefused(f"llama.cpp refused the control vector (code {code})")
        self.steering = key

    def close(self) -> None:
        self.batch.close()
        self.native.close()


def shared_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    n = min(len(a), len(b))
    if n == 0:
        return 0
    mismatch = np.flatnonzero(np.asarray(a[:n]) != np.asarray(b[:n]))
    return int(mismatch[0]) if mismatch.size else n


def read_prompt(
    context: Context,
    prompt: Sequence[int],
    targets: range,
    *,
    last: bool,
    measure: Measure | None = None,
) -> Generator[None, None, list[float]]:
    """Bring `context`'s cache to exactly `prompt`, returning P(prompt[j] | prompt[:j]) for j in `targets`
    (or `measure(logits, prompt[j], scratch)` of each, such as `log_probability`).

    With `last`, the logits of the final position are left for sampling the next token. Reads the way the
    module docstring explains, keeping at most MAX_OUTPUTS logit rows per decode. Yields after each decode,
    so the local worker can interleave other lanes.
    """
    wanted = set(range(targets.start - 1, targets.stop - 1)) if targets else set()
    if last:
        wanted.add(len(prompt) - 1)
    keep = min([context.reusable(prompt), *wanted])
    context.truncate(keep - keep % GRAIN)
    measure = measure or _probability
    probabilities: list[float] = []
    scratch = np.empty(context.n_vocab, dtype=np.float32)
    while len(context.tokens) < len(prompt):
        start = len(context.tokens)
        end = _batch_end(start, len(prompt), wanted)
        context.decode(prompt[start:end], wanted.__contains__)
        if start == context.canonical and (end - start) % GRAIN == 0:
            context.canonical = end
        rows = [p for p in range(start, end) if p in wanted and p + 1 in targets]
        probabilities += [measure(context.logits(p - start), prompt[p + 1], scratch) for p in rows]
        yield None
    return probabilities


def _batch_end(start: int, n: int, wanted: set[int]) -> int:
    """Where the decode from `start` ends: a multiple-of-8 batch, or the last `n % 8` tokens on their own."""
    whole = n - n % GRAIN
    if start >= whole:
        return n
    end = min(start + BATCH, whole)
    outputs = [p for p in range(start, end) if p in wanted]
    if len(outputs) > MAX_OUTPUTS:
        cut = outputs[MAX_OUTPUTS] - start  # the first row that would be one too many
        end = start + max(GRAIN, cut - cut % GRAIN)
    return end


def _probability(logits: np.ndarray, token: int, scratch: np.ndarray) -> float:
    peak = float(logits.max())
    np.subtract(logits, peak, out=scratch)
    np.exp(scratch, out=scratch)
    return float(np.exp(logits[token] - peak) / scratch.sum())


def log_probability(logits: np.ndarray, token: int, scratch: np.ndarray) -> float:
    """log P(token) in float64 from the log-sum-exp, so an unlikely token keeps its value instead of underflowing
    to 0 as a float32 probability would."""
    peak = float(logits.max())
    np.subtract(logits, peak, out=scratch)
    np.exp(scratch, out=scratch)
    return float(logits[token]) - peak - math.log(float(scratch.sum(dtype=np.float64)))


class ContextPool:
    """Idle contexts, handed out by the longest reusable prefix; a new context rather than someone else's cache.

    A borrower with nothing to reuse gets a fresh context, so lanes (and samples) with different documents
    never evict each other's cache. Acquiring never blocks: every borrower runs on the one local worker
    thread, so waiting for a context would deadlock it. Past `max_contexts` the pool grows for as long as
    needed and shrinks back on release, closing redundant caches first, then the least recently used.
    """

    def __init__(self, create: Callable[[str], Context], max_contexts: int) -> None:
        self._create = create
        self.max_contexts = max_contexts
        self._contexts: list[Context] = []
        self._lock = threading.Lock()

    def acquire(self, prompt: Sequence[int], key: str, control: ControlVector | None = None) -> Context:
        """An idle context for `prompt`, set to `control` (`simulator.steering`; None: unsteered), preferring one
        whose cache was computed under the same vector: another's cache is emptied when it is set to a new one."""
        steering = "" if control is None else control.key
        with self._lock:
            context = self._pick(prompt, key, steering)
            if context is not None:
                context.busy = True
        if context is None:
            context = self._create(key)
            context.busy = True
            with self._lock:
                self._contexts.append(context)
        try:
            context.steer(control)
        except LaneError:
            self.release(context, key)
            raise
        return context

    def _pick(self, prompt: Sequence[int], key: str, steering: str) -> Context | None:
        idle = [c for c in self._contexts if not c.busy]
        if not idle:
            return None

        def reusable(c: Context) -> int:
            return c.reusable(prompt) if c.steering == steering else 0

        best = max(idle, key=lambda c: (reusable(c), c.key == key, c.last_used))
        if reusable(best) > 0 or best.key == key:
            return best
        empty = [c for c in idle if not c.tokens]  # made ahead of time by a warm-up
        if empty:
            return empty[0]
        # Past the cap, only a cache that another context also holds is overwritten; otherwise a new context
        # is made now, and the pool shrinks back to its size when contexts are returned.
        return self._redundant(idle) if len(self._contexts) >= self.max_contexts else None

    def release(self, context: Context, key: str) -> None:
        with self._lock:
            context.busy = False
            context.key = key
            context.last_used = next(_clock)
            while len(self._contexts) > self.max_contexts and (spare := self._spare()) is not None:
                self._contexts.remove(spare)
                spare.close()

    def _spare(self) -> Context | None:
        """The idle context to close first: a redundant one, else, once no context is busy (busy ones may
        turn out redundant when they come back), the least recently used."""
        idle = [c for c in self._contexts if not c.busy]
        if (redundant := self._redundant(idle)) is not None or len(idle) < len(self._contexts):
            return redundant
        return min(idle, key=lambda c: c.last_used, default=None)

    def _redundant(self, idle: list[Context]) -> Context | None:
        """The least recently used idle context whose reusable cache another context also holds (such as the
        other samples of one turn, which all hold the same document)."""
        for candidate in sorted(idle, key=lambda c: c.last_used):
            held = candidate.tokens[: candidate.canonical]
            if any(c.reusable(held) >= candidate.canonical for c in self._contexts if c is not candidate):
                return candidate
        return None

    def idle(self) -> int:
        with self._lock:
            return sum(not c.busy for c in self._contexts)

    def __len__(self) -> int:
        with self._lock:
            return len(self._contexts)

    def close(self) -> None:
        with self._lock:
            for context in self._contexts:
                context.close()
            self._contexts.clear()
