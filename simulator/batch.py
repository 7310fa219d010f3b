"""Samples of one document decoded together: the prompt read once, its KV cache copied to every sample's sequence,
and the samples' next tokens decoded in shared llama.cpp batches, each sample with its own seed, sampler and stops.

A replay must give the same reply, so a batched sample's layout is part of its identity. Two things decide
whether it equals the reply its seed gives alone (`Simulator.continue_document`), measured on gemma-3-270m (CPU
backend, AVX2, repacked Q4_K weights):
- One KV buffer shared by the sequences (`kv_unified`) changed every logit from the first batched step: a
  sequence's cells sit among the others' and attention adds them up in another order. One KV stream per
  sequence lays each out as a context of its own does, so contexts here have a stream per sequence.
- A matrix product over 4 or more rows goes through the repacked weights' gemm kernel, which rounds differently
  from the one-row gemv a lone decode uses (logits moved by up to 1.2 once a rounding flipped, a few steps in);
  with at most 3 rows every row takes the gemv path and the logits are bit-identical to a lone decode.
But 3 rows per decode gain nothing over one after another (llama-batched-bench: 74.8 tokens/s for 1 sequence,
68.9 for 3, 145 for 8), so there are two layouts, chosen by `rows`, the most rows one decode takes:
- exact (EXACT_ROWS, 3): each sample is its seed's lone reply, bit for bit. The Samples popover and the replay of
  a single message rely on that.
- fast (FAST_ROWS, 8): every live sample of a group in one decode, the gemm path, about twice the tokens/s. A
  sample is then the reply of its seed *in its group*: the same members (settings and seeds, in order), the same
  document and the same `rows` give the same replies bit for bit, run after run, on 1 or 2 threads (measured),
  whatever context or cache they land on. Drawn alone, the same seed may differ in the last bits of its
  probabilities and, once a rounding flips a sampled token, in its text. `values.GroupLayout` records a
  sample's group so that a replay draws the same group again.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import llama_cpp
import numpy as np

from simulator.contexts import Context
from simulator.errors import LaneError
from simulator.loading import new_sampler
from simulator.steering import ControlVector
from simulator.stops import StopWriter
from simulator.values import EXACT_ROWS, Alternative, FinishReason, SamplingSettings, Token

if TYPE_CHECKING:
    from llama_cpp import _internals as internals

FAST_ROWS = 8  # rows per decode of the fast layout: every live row of a group at once (the gemm path)
MAX_SEQUENCES = 8  # samples decoded at once (a group); more are drawn in consecutive groups
CELL_GRAIN = 256  # a stream's KV cells, rounded up to this (llama.cpp pads the attention span to it)

Describe = Callable[[int, np.ndarray], tuple[bytes, float, list[Alternative], float]]


@dataclass(eq=False)
class Sample:
    """One sample in a batch: its sequence (KV stream), sampler, stop sequences and how far it got."""

    index: int
    seq: int
    sampler: internals.LlamaSampler
    writer: StopWriter
    max_tokens: int
    position: int
    generated: int = 0
    pending: int = -1  # the token to decode next
    reason: FinishReason | None = None


def new_samples(
    indices: range,
    settings: Sequence[SamplingSettings],
    seeds: Sequence[int],
    limits: Sequence[int],
    reply_prefix: str,
    position: int,
) -> list[Sample]:
    """A wave of samples, `indices` of `settings`, on sequences 0, 1, ... after a prompt of `position` tokens."""
    return [
        Sample(
            index=i,
            seq=i - indices.start,
            sampler=new_sampler(settings[i], seeds[i]),
            writer=StopWriter([s for s in settings[i].stop if s], reply_prefix),
            max_tokens=limits[i],
            position=position,
        )
        for i in indices
    ]


def decode_samples(
    context: Context,
    samples: Sequence[Sample],
    vocab: llama_cpp.llama_vocab_p,
    describe: Describe,
    cancel: threading.Event | None,
    rows: int = EXACT_ROWS,
) -> Generator[tuple[int, Token | FinishReason]]:
    """Continue every sample from the prompt `context` has just read on sequence 0 (its last logits still there):
    yields (sample index, Token) as tokens become safe to show, and (sample index, reason) once for each sample.

    Each sample goes through the same steps as a lone continuation: sample, end of text, probabilities, stop
    sequences, length limit, decode. A sample that ends drops out of the next batches.

    Raises:
        LaneError: llama.cpp refused a batch.
    """
    for seq in range(1, context.sequences):
        context.native.kv_cache_seq_rm(seq, -1, -1)
    for sample in samples:
        if sample.seq != 0:
            context.native.kv_cache_seq_cp(0, sample.seq, -1, -1)
    if cancel is not None and cancel.is_set():
        yield from _cancel(samples)
        return
    for sample in samples:  # every first token comes from the prompt's last logits
        yield from _take(context, sample, -1, vocab, describe)
    while active := [s for s in samples if s.reason is None]:
        for group in _groups(active, rows):
            if cancel is not None and cancel.is_set():
                yield from _cancel(samples)
                return
            _decode(context, group)
            for row, sample in enumerate(group):
                yield from _take(context, sample, row, vocab, describe)


def _cancel(samples: Sequence[Sample]) -> Generator[tuple[int, Token | FinishReason]]:
    for sample in [s for s in samples if s.reason is None]:
        yield from ((sample.index, token) for token in sample.writer.flush())
        sample.reason = "cancelled"
        yield sample.index, sample.reason


def _groups(active: list[Sample], rows: int) -> list[list[Sample]]:
    return [active[i : i + rows] for i in range(0, len(active), rows)]


def _take(
    context: Context, sample: Sample, row: int, vocab: llama_cpp.llama_vocab_p, describe: Describe
) -> Generator[tuple[int, Token | FinishReason]]:
    """Sample the next token from logits `row` of the last decode and pass on what it makes safe to show."""
    token_id = sample.sampler.sample(context.native, row)
    shown: list[Token] = []
    if llama_cpp.llama_vocab_is_eog(vocab, token_id):
        shown, sample.reason = sample.writer.flush(), "stop"
    else:
        piece, p, top, entropy = describe(token_id, context.logits(row))
        sample.generated += 1
        shown = sample.writer.add(piece, p, top, entropy)
        if sample.writer.stopped is not None:
            sample.reason = "stop"
        elif sample.generated >= sample.max_tokens:
            shown, sample.reason = shown + sample.writer.flush(), "length"
        else:
            sample.pending = token_id
    yield from ((sample.index, token) for token in shown)
    if sample.reason is not None:
        yield sample.index, sample.reason


def _decode(context: Context, group: list[Sample]) -> None:
    batch = context.batch.batch
    batch.n_tokens = len(group)
    for j, sample in enumerate(group):
        batch.token[j] = sample.pending
        batch.pos[j] = sample.position
        batch.n_seq_id[j] = 1
        batch.seq_id[j][0] = sample.seq
        batch.logits[j] = True
    code = context.run(batch)
    if code != 0:
        raise LaneError(f"llama.cpp could not decode a batch of {len(group)} samples (code {code})")
    for sample in group:
        sample.position += 1
        if sample.seq == 0:  # sequence 0's cache is what `context.tokens` describes
            context.tokens.append(sample.pending)


def cells_for(n_tokens: int, n_ctx: int) -> int:
    """A stream's KV cells for `n_tokens`: rounded up to CELL_GRAIN, at most the simulator's context size."""
    return min(n_ctx, -(-n_tokens // CELL_GRAIN) * CELL_GRAIN)


_clock = itertools.count(1)


@dataclass
class BatchPool:
    """Batched contexts, made to measure for a set of samples; the last one returned is kept for the next set,
    which reuses its cached prompt when it continues the same document (Compare's samples grid, a cell's
    next chunk)."""

    create: Callable[[int, int], Context]  # (sequences, cells per stream) -> a context
    keep: int = 1
    _idle: list[Context] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def acquire(
        self, prompt: Sequence[int], sequences: int, cells: int, control: ControlVector | None = None
    ) -> Context:
        """A context set to `control` (None: unsteered), preferring one whose cache was computed under it."""
        steering = "" if control is None else control.key
        context = None
        with self._lock:
            fits = [c for c in self._idle if c.sequences >= sequences and c.cells >= cells]
            if fits:
                context = max(fits, key=lambda c: (c.reusable(prompt) if c.steering == steering else 0, c.last_used))
                self._idle.remove(context)
        context = context or self.create(sequences, cells)
        try:
            context.steer(control)
        except LaneError:
            self.release(context)
            raise
        return context

    def release(self, context: Context) -> None:
        with self._lock:
            context.last_used = next(_clock)
            self._idle.append(context)
            self._idle.sort(key=lambda c: c.last_used)
            while len(self._idle) > self.keep:
                self._idle.pop(0).close()

    def close(self) -> None:
        with self._lock:
            for context in self._idle:
                context.close()
            self._idle.clear()
