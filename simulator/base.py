"""A base model that continues documents, token by token, with each token's probability and alternatives.

Probabilities come from the raw logits llama.cpp leaves after each step, read in place (zero copy) and
reduced with a log-sum-exp and a few passes of argmax (`simulator.spread`): llama-cpp-python's `logprobs=`
sorts Gemma's 262k-token vocabulary in Python on every token and makes generation ten times slower. All
contexts share one loaded model (the weights, and llama.cpp's repacked copy of them, exist once), and prompts are
read the way `simulator.contexts` explains, so a seed reproduces a reply whatever the KV cache held before.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable, Generator, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import numpy as np

from personas.mask import HistoryTurn, Mask
from simulator import spread
from simulator.activations import CAPTURE_CONTEXTS, Recorder
from simulator.batch import MAX_SEQUENCES, BatchPool, Describe, cells_for, decode_samples, new_samples
from simulator.contexts import Context, ContextPool, read_prompt, shared_prefix
from simulator.errors import PromptTooLong
from simulator.identity import file_sha256
from simulator.lens import LocalLens
from simulator.loading import load_llama as load_llama
from simulator.loading import load_model, load_vocabulary, new_context, new_sampler
from simulator.protocol import Continuation, LaneSeat
from simulator.protocol import Finished as Finished
from simulator.protocol import FittedDocument as FittedDocument
from simulator.steering import ControlVector
from simulator.stops import StopWriter
from simulator.teacher import TeacherForcing
from simulator.teacher import drain as drain
from simulator.tree import LocalTrees
from simulator.values import EXACT_ROWS, Alternative, FinishReason, GroupLayout, SamplingSettings, Token

if TYPE_CHECKING:
    from llama_cpp import Llama
    from llama_cpp import _internals as internals

    from simulator.worker import LocalWorker

T = TypeVar("T")

SCORING_CONTEXTS = 2  # scoring has its own contexts, so measuring a reply never overwrites a lane's cache


class Simulator(LocalLens, TeacherForcing, LocalTrees):
    """One base-model GGUF file, loaded once, and pools of llama.cpp contexts over it.

    A continuation borrows the idle context whose cache shares the longest reusable prefix with its
    document, so a lane's next turn lands on the context that already holds its conversation and only the
    new tokens are read; a lane with nothing to reuse gets a context of its own (up to `max_contexts`), so
    lanes with different masks never evict each other's cache. A context serves one continuation at a
    time; the local worker runs them all on one thread.
    """

    def __init__(
        self,
        path: Path,
        *,
        name: str = "base",
        n_ctx: int = 2048,
        n_threads: int | None = None,
        max_contexts: int = 8,
    ) -> None:
        self.path = path
        self.name = name
        self.n_ctx = n_ctx
        self.n_threads = n_threads  # None: every decode runs with the cores free at the time (`simulator.threads`)
        self._lock = threading.Lock()
        self._model: internals.LlamaModel | None = None
        self._vocab: Llama | None = None
        self._pieces: dict[int, bytes] = {}
        self._lanes = ContextPool(self._new_context, max_contexts)
        self._scoring = ContextPool(self._new_context, SCORING_CONTEXTS)
        self._batches = BatchPool(self._new_batch_context)
        self._capture = ContextPool(self._new_capture_context, CAPTURE_CONTEXTS)

    # -- model and contexts ----------------------------------------------------------------

    def _loaded(self) -> internals.LlamaModel:
        with self._lock:
            if self._model is None:
                self._model = load_model(self.path)
            return self._model

    def _new_context(self, key: str) -> Context:
        return new_context(self._loaded(), self.path, n_ctx=self.n_ctx, n_threads=self.n_threads, key=key)

    def _new_capture_context(self, key: str) -> Context:
        recorder = Recorder(self.n_embd)
        context = new_context(
            self._loaded(),
            self.path,
            n_ctx=self.n_ctx,
            n_threads=self.n_threads,
            key=key,
            eval_callback=recorder.callback,
        )
        recorder.context = context
        context.recorder = recorder
        return context

    def _new_batch_context(self, sequences: int, cells: int) -> Context:
        model = self._loaded()
        return new_context(model, self.path, n_ctx=cells, n_threads=self.n_threads, key="samples", sequences=sequences)

    @contextmanager
    def borrow(self, lane_key: str = "") -> Iterator[Context]:
        """The lane's context, to read llama.cpp's own counters from (tests, benchmarks); not for decoding."""
        context = self._lanes.acquire([], lane_key)
        try:
            yield context
        finally:
            self._lanes.release(context, lane_key)

    def warm(self, contexts: int = 1) -> None:
        """Load the model, the tokenizer and `contexts` lane contexts now, for the first turn of that many lanes."""
        self._vocabulary()
        with ExitStack() as stack:
            for i in range(contexts - self._lanes.idle()):
                stack.enter_context(self.borrow(f"warm-{i}"))

    def close(self) -> None:
        self._lanes.close()
        self._scoring.close()
        self._batches.close()
        self._capture.close()
        with self._lock:
            if self._model is not None:
                self._model.close()
                self._model = None

    @property
    def sha256(self) -> str:
        """The model file's sha256, computed once per file (see `simulator.identity`)."""
        return file_sha256(self.path)

    def _vocabulary(self) -> Llama:
        """A vocabulary-only load for tokenizing: safe to use while contexts decode on another thread."""
        with self._lock:
            if self._vocab is None:
                self._vocab = load_vocabulary(self.path)
            return self._vocab

    def tokenize(self, text: str) -> list[int]:
        return list(self._vocabulary().tokenize(text.encode("utf-8"), add_bos=True, special=False))

    # -- documents -------------------------------------------------------------------------

    def fit(self, mask: Mask, history: list[HistoryTurn], max_tokens: int) -> FittedDocument:
        """Render the mask, dropping the oldest turns (never the frame) until the reply fits the context.

        Raises:
            PromptTooLong: even the frame and the newest user turn leave no room for the reply.
        """
        budget = self.n_ctx - max_tokens
        for dropped in range(0, max(1, len(history))):
            kept = history[dropped:]
            document = mask.render(kept)
            n_tokens = len(self.tokenize(document))
            if n_tokens <= budget:
                return FittedDocument(document=document, n_tokens=n_tokens, dropped_turns=dropped)
        raise PromptTooLong(
            f"the prompt is too long for {self.name}: the mask's frame and your message take {n_tokens}"
            f" tokens, and with room for {max_tokens} reply tokens the context holds {self.n_ctx}."
            " Shorten the message, lower max tokens, or pick a model with a larger context."
        )

    # -- generation ------------------------------------------------------------------------

    def continue_document(
        self,
        document: str,
        settings: SamplingSettings,
        *,
        lane_key: str = "default",
        alternatives: int = 5,
        cancel: threading.Event | None = None,
        reply_prefix: str = "",
        cue: str = "",
        steering: ControlVector | None = None,
    ) -> Iterator[Token | Finished]:
        """Stream the continuation of `document + reply_prefix`: `Token`s, then one `Finished`.

        Tokens are held back while they might be the start of a stop sequence, so a stop sequence is
        never shown and then taken away; `reply_prefix` (a branch's start, already shown by the caller)
        counts as written text for that. Each token's `p` is the model's own probability (temperature 1).
        With `cue`, a suffix of `document` such as `Ada:`, `Finished.cue_p` is P(cue | document before
        it), read from the same prompt decode at no extra cost. `steering` adds a control vector to every
        position this reply reads and writes (`simulator.steering`).

        Raises:
            PromptTooLong: the document leaves no room in the context.
            SteeringRefused: `steering` does not fit this model.
        """
        self.check_steering(steering)
        prompt = self.tokenize(document + reply_prefix)
        if len(prompt) >= self.n_ctx:
            raise PromptTooLong(f"the document has {len(prompt)} tokens; {self.name} holds {self.n_ctx}")
        max_tokens = min(settings.max_tokens, self.n_ctx - len(prompt))
        seed = settings.seed if settings.seed is not None else random.randrange(2**31)
        cue_targets = self._cue_targets(document, cue, prompt)
        context = self._lanes.acquire(prompt, lane_key, steering)
        sampler = None
        try:
            cue_probabilities = drain(read_prompt(context, prompt, cue_targets, last=True))
            sampler = new_sampler(settings, seed)
            writer = StopWriter([s for s in settings.stop if s], reply_prefix)
            reason = yield from self._generate(context, sampler, writer, max_tokens, alternatives, cancel)
            cue_p = float(np.prod(cue_probabilities)) if cue_targets else None
            yield Finished(reason=reason, seed=seed, stop=writer.stopped, cue_p=cue_p)
        finally:
            if sampler is not None:
                sampler.close()
            self._lanes.release(context, lane_key)

    def continue_lane(
        self,
        document: str,
        settings: SamplingSettings,
        seat: LaneSeat,
        *,
        lane_key: str,
        alternatives: int,
        reply_prefix: str,
        cue: str,
        steering: ControlVector | None = None,
    ) -> Iterator[Token | Finished]:
        """On the local worker, with the lane's other samples when it has some (`continue_samples`)."""
        continuation = Continuation(self, document, settings, lane_key, alternatives, reply_prefix, cue, steering)
        return seat.decode(continuation)

    def run_job(
        self, job: Callable[[], Iterator[T]], worker: LocalWorker, cancel: threading.Event | None = None
    ) -> Iterator[T]:
        """On the local worker, one step at a time among the lanes' decodes, never two decodes at once."""
        return worker.submit(job, cancel)

    def _generate(
        self,
        context: Context,
        sampler: internals.LlamaSampler,
        writer: StopWriter,
        max_tokens: int,
        alternatives: int,
        cancel: threading.Event | None,
    ) -> Generator[Token, None, FinishReason]:
        import llama_cpp

        vocab = self._loaded().vocab
        scratch = spread.scratch(context.n_vocab)  # reused every token: the vocabulary is 262k floats
        generated = 0
        while True:
            if cancel is not None and cancel.is_set():
                yield from writer.flush()
                return "cancelled"
            token_id = sampler.sample(context.native, -1)
            if llama_cpp.llama_vocab_is_eog(vocab, token_id):
                yield from writer.flush()
                return "stop"
            p, top, entropy = self._distribution(context.logits(-1), scratch, token_id, alternatives)
            generated += 1
            yield from writer.add(self._piece(token_id), p, top, entropy)
            if writer.stopped is not None:
                return "stop"
            if generated >= max_tokens:
                yield from writer.flush()
                return "length"
            context.decode([token_id], _always)

    def continue_samples(
        self,
        document: str,
        settings: Sequence[SamplingSettings],
        *,
        alternatives: int = 5,
        cancel: threading.Event | None = None,
        reply_prefix: str = "",
        cue: str = "",
        steering: ControlVector | None = None,
        rows: int = EXACT_ROWS,
    ) -> Iterator[tuple[int, Token | Finished]]:
        """Samples of one document decoded together (`simulator.batch`): for each `settings[i]`, a reply as
        `(i, Token)` items and one `(i, Finished)` whose `group` is the sample's layout.

        The samples are drawn in consecutive groups (of MAX_SEQUENCES, or of `rows` in the fast layout); a group's
        prompt is read once and copied to every member's sequence. `rows` is the layout: EXACT_ROWS (the default),
        at most 3 samples per decode, each the very reply `continue_document` gives; FAST_ROWS, every decode
        exactly that many rows (padded), about twice as fast, each the reply its seed gives in that layout
        whatever the other members (a lone draw the exact way may differ in the last bits).

        Raises:
            PromptTooLong: the document leaves no room in the context.
            ValueError: `rows` is not between 1 and MAX_SEQUENCES.
        """
        if not 1 <= rows <= MAX_SEQUENCES:
            raise ValueError(f"a decode takes 1 to {MAX_SEQUENCES} rows, not {rows}")
        self.check_steering(steering)
        prompt = self.tokenize(document + reply_prefix)
        if len(prompt) >= self.n_ctx:
            raise PromptTooLong(f"the document has {len(prompt)} tokens; {self.name} holds {self.n_ctx}")
        if not settings:
            return
        seeds = [s.seed if s.seed is not None else random.randrange(2**31) for s in settings]
        limits = [min(s.max_tokens, self.n_ctx - len(prompt)) for s in settings]
        cue_targets = self._cue_targets(document, cue, prompt)
        wave = min(len(settings), rows if rows > EXACT_ROWS else MAX_SEQUENCES)
        cells = cells_for(len(prompt) + max(limits), self.n_ctx)
        streams = rows if rows > EXACT_ROWS else wave  # padding rows need streams of their own
        context = self._batches.acquire(prompt, streams, cells, steering)
        describe = self._describer(context.n_vocab, alternatives)
        try:
            for start in range(0, len(settings), wave):
                cue_probabilities = drain(read_prompt(context, prompt, cue_targets, last=True))
                cue_p = float(np.prod(cue_probabilities)) if cue_targets else None
                indices = range(start, min(start + wave, len(settings)))
                samples = new_samples(indices, settings, seeds, limits, reply_prefix, len(prompt))
                try:
                    for i, step in decode_samples(context, samples, self._loaded().vocab, describe, cancel, rows):
                        if isinstance(step, Token):
                            yield i, step
                        else:
                            stop = samples[i - start].writer.stopped
                            group = GroupLayout(rows=rows, members=len(indices), position=i - start)
                            yield i, Finished(reason=step, seed=seeds[i], stop=stop, cue_p=cue_p, group=group)
                finally:
                    for sample in samples:
                        sample.sampler.close()
        finally:
            self._batches.release(context)

    def _describer(self, n_vocab: int, alternatives: int) -> Describe:
        """A token's text, probability, top alternatives and entropy from its logits, as `_generate` has them."""
        scratch = spread.scratch(n_vocab)

        def describe(token_id: int, logits: np.ndarray) -> tuple[bytes, float, list[Alternative], float]:
            p, top, entropy = self._distribution(logits, scratch, token_id, alternatives)
            return self._piece(token_id), p, top, entropy

        return describe

    def check_steering(self, steering: ControlVector | None) -> None:
        """Raises SteeringRefused when `steering` was computed on another model or does not fit this one."""
        if steering is not None:
            steering.check(model_sha256=self.sha256, n_layer=self.n_layer, n_embd=self.n_embd, model=self.name)

    def _cue_targets(self, document: str, cue: str, prompt: list[int]) -> range:
        """The positions of `cue`'s tokens in `prompt`, when `cue` ends `document` and keeps its own tokens."""
        if not cue or not document.endswith(cue):
            return range(0)
        whole = self.tokenize(document)
        start = shared_prefix(self.tokenize(document[: len(document) - len(cue)]), whole)
        if start == 0 or prompt[: len(whole)] != whole:
            return range(0)
        return range(start, len(whole))

    def _piece(self, token_id: int) -> bytes:
        piece = self._pieces.get(token_id)
        if piece is None:
            piece = self._vocabulary().detokenize([token_id])
            self._pieces[token_id] = piece
        return piece

    def _distribution(
        self, logits: np.ndarray, scratch: np.ndarray, token_id: int, k: int
    ) -> tuple[float, list[Alternative], float]:
        """p of `token_id`, the top `k` alternatives, and the entropy over the whole vocabulary (nats)."""
        log_total, entropy = spread.log_total_and_entropy(logits, scratch)
        p = float(np.exp(logits[token_id] - log_total))
        if k <= 0:
            return p, [], entropy
        candidates = spread.top_indices(logits, k, scratch)
        piece = self._piece
        top = [
            Alternative(text=piece(int(i)).decode("utf-8", errors="replace"), p=float(np.exp(logits[i] - log_total)))
            for i in candidates
        ]
        return p, top, entropy


def _always(_position: int) -> bool:
    return True
