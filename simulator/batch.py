"""Samples of one document decoded together: the prompt read once, its KV cache copied to every sample's sequence,
and the samples' next tokens decoded in shared llama.cpp batches, each sample with its own seed, sampler and stops.

A replay must give the same reply. What a batched sample's logits depend on, measured on gemma-3-270m (CPU
backend, AVX2, repacked Q4_K weights):
- One KV buffer shared by the sequences (`kv_unified`) changed every logit from the first batched step: a
  sequence's cells sit among the others' and attention adds them up in another order. One KV stream per
  sequence lays each out as a context of its own does, so contexts here have a stream per sequence.
- A matrix product over 4 or more rows goes through the repacked weights' gemm kernel, which rounds differently
  from the one-row gemv a lone decode uses (logits moved by up to 1.2 once a rounding flipped, a few steps in);
  with at most 3 rows every row takes the gemv path and the logits are bit-identical to a lone decode.
- How many rows a decode has and keeps logits for, and that they come in stream order; not what the other rows
  hold nor which stream a sample has (other seeds beside it, its own seed on another stream: the same logits).
But 3 rows per decode gain nothing over one after another (llama-batched-bench: 74.8 tokens/s for 1 sequence,
68.9 for 3, 145 for 8), so there are two layouts, chosen by `rows`:
- exact (EXACT_ROWS, 3): decodes of at most 3 samples; each sample is its seed's lone reply, bit for bit. The
  Samples popover and the replay of a single message rely on that.
- fast (FAST_ROWS, 8): every decode takes exactly `rows` rows, in stream order: the group's live samples, and a
  padding row on each stream no live sample holds (every stream steps at the same position, so each grows
  alike). A sample's reply then depends on its document, settings, seed and `rows` only: the same again in any
  group, alone (padded) included, on 1 or 2 threads, whatever context or cache it lands on (measured), and about
  twice the tokens/s of one after another for 8 samples. Drawn the exact way, the same seed may differ in the
  last bits of its probabilities and, once a rounding flips a sampled token, in its text. Padding rows cost a
  full decode: a group of fewer samples, or one whose samples end early, pays for rows nobody reads.
`values.GroupLayout` records a sample's `rows` (and its group), so that a replay draws it in the same layout.
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
PAD_TOKEN = 0  # what a padding row decodes: any token will do (a row's logits do not depend on the others')
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
    sequences, length limit, decode. A sample that ends drops out of the next batches: in the exact layout
    (`rows` at most EXACT_ROWS, decodes of at most `rows` samples) its row goes; in the fast layout (more, and
    at most `rows` samples on streams 0..rows-1) a padding row takes its place.

    Raises:
        LaneError: llama.cpp refused a batch.
    """
    for seq in range(1, context.sequences):
        context.native.kv_cache_seq_rm(seq, -1, -1)
    for seq in range(1, len(samples) if rows <= EXACT_ROWS else rows):  # padding rows grow streams of their own
        context.native.kv_cache_seq_cp(0, seq, -1, -1)
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
            placed = _decode(context, group, _ghosts(active, rows) if rows > EXACT_ROWS else [])
            for sample in group:
                yield from _take(context, sample, placed[sample.seq], vocab, describe)


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


def _ghosts(active: list[Sample], rows: int) -> list[tuple[int, int]]:
    """(stream, position) of the rows that fill a decode up to `rows`: every stream a live sample does not hold,
    at the live samples' position (they step together), so every stream grows alike."""
    live = {s.seq for s in active}
    position = active[0].position
    return [(seq, position) for seq in range(rows) if seq not in live]


def _decode(context: Context, group: list[Sample], ghosts: list[tuple[int, int]]) -> dict[int, int]:
    """Decode `group`'s pending tokens and a padding token on each of `ghosts` (stream, position), rows in stream
    order and every row's logits kept (another order, or fewer logit rows, changed the live rows' logits: the
    output matrix takes another kernel for fewer rows); returns each stream's row."""
    rows = sorted([(s.seq, s.position, s.pending, True) for s in group] + [(*g, PAD_TOKEN, True) for g in ghosts])
    batch = context.batch.batch
    batch.n_tokens = len(rows)
    for j, (seq, position, token, wanted) in enumerate(rows):
        batch.token[j] = token
        batch.pos[j] = position
        batch.n_seq_id[j] = 1
        batch.seq_id[j][0] = seq
        batch.logits[j] = wanted
    code = context.run(batch)
    if code != 0:
        raise LaneError(f"llama.cpp could not decode a batch of {len(group)} samples (code {code})")
    for sample in group:
        sample.position += 1
    if rows[0][0] == 0:  # sequence 0's cache is what `context.tokens` describes
        context.tokens.append(rows[0][2])
    return {seq: j for j, (seq, *_) in enumerate(rows)}


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
