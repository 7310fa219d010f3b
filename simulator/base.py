"""A base model that continues documents, token by token, with each token's probability and alternatives.

Probabilities come from the raw logits llama.cpp leaves after each step, read in place (zero copy) and
reduced with a log-sum-exp and `argpartition`: llama-cpp-python's `logprobs=` sorts Gemma's 262k-token
vocabulary in Python on every token and makes generation ten times slower.
"""

from __future__ import annotations

import os
import random
import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from personas.mask import HistoryTurn, Mask
from simulator.errors import ModelUnavailable, PromptTooLong
from simulator.events import Alternative, FinishReason, SamplingSettings, Token

if TYPE_CHECKING:
    from llama_cpp import Llama


@dataclass(frozen=True)
class Finished:
    """The last item a continuation yields: why it ended, and the seed it actually used."""

    reason: FinishReason
    seed: int


@dataclass(frozen=True)
class FittedDocument:
    document: str
    n_tokens: int
    dropped_turns: int


def default_threads() -> int:
    return max(1, os.cpu_count() or 1)


def load_llama(path: Path, *, n_ctx: int, n_threads: int) -> Llama:
    """Open a GGUF file with llama.cpp (weights are mmap'd, so more contexts share one copy in memory).

    Raises:
        ModelUnavailable: the file is missing or llama.cpp cannot load it.
    """
    if not path.exists():
        raise ModelUnavailable(f"model file not found: {path}")
    from llama_cpp import Llama

    try:
        return Llama(
            model_path=str(path),
            n_ctx=n_ctx,
            n_threads=n_threads,
            n_threads_batch=n_threads,
            n_batch=512,
            verbose=False,
        )
    except (ValueError, RuntimeError) as e:
        raise ModelUnavailable(f"llama.cpp could not load {path.name}: {e}") from e


class Simulator:
    """One base-model GGUF file and a pool of llama.cpp contexts over its shared, mmap'd weights.

    A continuation borrows the idle context whose cached tokens share the longest prefix with its
    document, so a lane's next turn lands on the context that already holds its conversation and only the
    new tokens are processed, and lanes with different masks never evict each other's cache. A context
    is used by one continuation at a time; the local worker runs them all on one thread.
    """

    def __init__(
        self,
        path: Path,
        *,
        name: str = "base",
        n_ctx: int = 2048,
        n_threads: int | None = None,
        max_idle_contexts: int = 6,
    ) -> None:
        self.path = path
        self.name = name
        self.n_ctx = n_ctx
        self.n_threads = n_threads or default_threads()
        self.max_idle_contexts = max_idle_contexts
        self._idle: list[tuple[Llama, str]] = []  # (context, lane it last served), oldest first
        self._lock = threading.Lock()
        self._vocab: Llama | None = None
        self._pieces: dict[int, bytes] = {}

    # -- contexts --------------------------------------------------------------------------

    def _acquire(self, prompt: list[int], lane_key: str) -> Llama:
        with self._lock:
            if self._idle:
                best = max(
                    range(len(self._idle)),
                    key=lambda i: (_shared_prefix(self._idle[i][0], prompt), self._idle[i][1] == lane_key, i),
                )
                return self._idle.pop(best)[0]
        return load_llama(self.path, n_ctx=self.n_ctx, n_threads=self.n_threads)

    def _release(self, llama: Llama, lane_key: str) -> None:
        with self._lock:
            self._idle.append((llama, lane_key))
            while len(self._idle) > self.max_idle_contexts:
                self._idle.pop(0)[0].close()

    @contextmanager
    def borrow(self, lane_key: str = "") -> Iterator[Llama]:
        """A context for direct llama.cpp use (benchmarks, warm-up); returned to the pool afterwards."""
        llama = self._acquire([], lane_key)
        try:
            yield llama
        finally:
            self._release(llama, lane_key)

    def warm(self, contexts: int = 1) -> None:
        """Load `contexts` contexts now, so the first turn of that many lanes does not wait for them."""
        with ExitStack() as stack:
            for _ in range(contexts - len(self._idle)):
                stack.enter_context(self.borrow())

    def close(self) -> None:
        with self._lock:
            for llama, _ in self._idle:
                llama.close()
            self._idle.clear()

    def _vocabulary(self) -> Llama:
        """A vocabulary-only load for tokenizing: safe to use while contexts decode on another thread."""
        with self._lock:
            if self._vocab is None:
                from llama_cpp import Llama

                self._vocab = Llama(model_path=str(self.path), vocab_only=True, verbose=False)
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
    ) -> Iterator[Token | Finished]:
        """Stream the continuation of `document`: `Token`s, then one `Finished`.

        Tokens are held back while they might be the start of a stop sequence, so a stop sequence is
        never shown and then taken away. Each token's `p` is the model's own probability (temperature 1).
        """
        prompt = self.tokenize(document)
        room = self.n_ctx - len(prompt)
        if room <= 0:
            raise PromptTooLong(f"the document has {len(prompt)} tokens; {self.name} holds {self.n_ctx}")
        max_tokens = min(settings.max_tokens, room)
        seed = settings.seed if settings.seed is not None else random.randrange(2**31)
        llama = self._acquire(prompt, lane_key)
        llama.set_seed(seed)

        import llama_cpp

        vocab = llama._model.vocab
        n_vocab = llama.n_vocab()
        scratch = np.empty(n_vocab, dtype=np.float32)  # reused every token: the vocabulary is 262k floats
        stops = [s for s in settings.stop if s]
        longest_stop = max((len(s) for s in stops), default=0)

        text = ""  # everything decoded so far
        shown = 0  # characters of `text` already handed out as tokens
        held: list[Token] = []
        pending_bytes = b""
        reason: FinishReason = "length"
        generated = 0
        generator = llama.generate(
            prompt,
            top_k=settings.top_k,
            top_p=settings.top_p,
            min_p=0.0,
            temp=settings.temperature,
            repeat_penalty=1.0,
        )
        try:
            for token_id in generator:
                if cancel is not None and cancel.is_set():
                    reason = "cancelled"
                    break
                if llama_cpp.llama_vocab_is_eog(vocab, token_id):
                    reason = "stop"
                    break
                logits = np.ctypeslib.as_array(llama._ctx.get_logits_ith(-1), shape=(n_vocab,))
                p, top = self._distribution(llama, logits, scratch, token_id, alternatives)
                generated += 1
                pending_bytes += self._piece(llama, token_id)
                piece = _decode_complete(pending_bytes)
                if piece is None:  # a character split across tokens: wait for the rest
                    held.append(Token(text="", p=p, top=top))
                    if generated >= max_tokens:
                        break
                    continue
                pending_bytes = b""
                text += piece
                held.append(Token(text=piece, p=p, top=top))
                cut = _find_stop(text, stops, search_from=max(0, shown - longest_stop))
                if cut is not None:
                    yield from _trim_to(held, text, shown, cut)
                    held = []
                    reason = "stop"
                    break
                safe_until = len(text) - _stop_prefix_overlap(text, stops)
                if safe_until >= len(text):
                    yield from held
                    shown = len(text)
                    held = []
                if generated >= max_tokens:
                    break
            else:
                reason = "stop"
            yield from held
            yield Finished(reason=reason, seed=seed)
        finally:
            generator.close()
            self._release(llama, lane_key)

    def _piece(self, llama: Llama, token_id: int) -> bytes:
        piece = self._pieces.get(token_id)
        if piece is None:
            piece = llama.detokenize([token_id])
            self._pieces[token_id] = piece
        return piece

    def _distribution(
        self, llama: Llama, logits: np.ndarray, scratch: np.ndarray, token_id: int, k: int
    ) -> tuple[float, list[Alternative]]:
        peak = float(logits.max())
        np.subtract(logits, peak, out=scratch)
        np.exp(scratch, out=scratch)
        log_total = peak + float(np.log(scratch.sum()))
        p = float(np.exp(logits[token_id] - log_total))
        if k <= 0:
            return p, []
        candidates = np.argpartition(logits, -k)[-k:]
        candidates = candidates[np.argsort(logits[candidates])[::-1]]
        top = [
            Alternative(
                text=self._piece(llama, int(i)).decode("utf-8", errors="replace"),
                p=float(np.exp(logits[i] - log_total)),
            )
            for i in candidates
        ]
        return p, top


def _shared_prefix(llama: Llama, prompt: list[int]) -> int:
    cached = llama.input_ids[: llama.n_tokens]
    n = min(len(cached), len(prompt))
    if n == 0:
        return 0
    mismatch = np.flatnonzero(cached[:n] != np.asarray(prompt[:n]))
    return int(mismatch[0]) if mismatch.size else n


def _decode_complete(data: bytes) -> str | None:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        if e.reason == "unexpected end of data" and len(data) - e.start < 4:
            return None
        return data.decode("utf-8", errors="replace")


def _find_stop(text: str, stops: list[str], search_from: int) -> int | None:
    positions = [i for s in stops if (i := text.find(s, search_from)) != -1]
    return min(positions) if positions else None


def _stop_prefix_overlap(text: str, stops: list[str]) -> int:
    """How many trailing characters of `text` could be the start of a stop sequence."""
    best = 0
    for stop in stops:
        for n in range(min(len(stop) - 1, len(text)), best, -1):
            if text.endswith(stop[:n]):
                best = n
                break
    return best


def _trim_to(held: list[Token], text: str, shown: int, cut: int) -> Iterator[Token]:
    """Yield the held tokens up to character `cut` of `text`, shortening the one the stop begins in."""
    position = shown
    for token in held:
        if position >= cut:
            return
        end = position + len(token.text)
        if end <= cut:
            yield token
        else:
            yield token.model_copy(update={"text": token.text[: cut - position]})
        position = end
