"""Teacher forcing for `simulator.base.Simulator`: a text read after a document in one batched pass, with the
probability the model gives each of its tokens. Kept apart from generation so that reading a given text (scoring,
metrics, activation capture) and sampling a new one each stay small; the reads run on the scoring contexts,
never a lane's, so measuring a reply never overwrites a lane's cache."""

from __future__ import annotations

import math
from collections.abc import Generator
from typing import TYPE_CHECKING, TypeVar

from simulator.contexts import ContextPool, Measure, log_probability, read_prompt, shared_prefix
from simulator.errors import PromptTooLong
from simulator.protocol import Scored

if TYPE_CHECKING:
    from simulator.contexts import Context

T = TypeVar("T")


def drain(steps: Generator[None, None, T]) -> T:
    """Run a step-wise job (one that yields None between decodes) to the end, here, and return its value."""
    while True:
        try:
            next(steps)
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]


class TeacherForcing:
    """`score`, `scoring`, `cue_probability` and `token_logprobs` for `simulator.base.Simulator`."""

    name: str
    n_ctx: int
    _scoring: ContextPool

    def tokenize(self, text: str) -> list[int]:
        raise NotImplementedError

    def _piece(self, token_id: int) -> bytes:
        raise NotImplementedError

    def score(self, context: str, continuation: str, *, key: str = "score") -> list[float]:
        """P(each token of `continuation` | `context`): the tokens of `context + continuation` past the tokens it
        shares with `context` alone. Runs here, in the caller's thread; a lane uses `scoring` on the local worker.

        Raises:
            PromptTooLong: the two together do not fit in the context.
        """
        return drain(self.scoring(context, continuation, key=key))

    def cue_probability(self, context: str, cue: str, *, key: str = "score") -> Generator[None, None, float | None]:
        """P(`cue` | `context`), every token of it, as a step-wise job."""
        return math.prod((yield from self.scoring(context, cue, key=key)))

    def scoring(self, context: str, continuation: str, *, key: str = "score") -> Generator[None, None, list[float]]:
        """`score` as a step-wise job: yields None after each decode, returns the probabilities.

        One batched read of the new tokens with logits kept only where needed, on a scoring context
        (reusing its cached prefix), never a lane's.
        """
        return (yield from self._teacher_forced(context, continuation, key, None))[1]

    def token_logprobs(self, context: str, text: str, *, key: str = "score") -> Generator[None, None, list[Scored]]:
        """Each token of `text` after `context` (its bytes) and log P(it | all before it), read as `scoring` reads:
        teacher forcing in one batched pass. Log-probabilities in float64, so no unlikely token rounds to -inf."""
        ids, values = yield from self._teacher_forced(context, text, key, log_probability)
        return [(self._piece(i), v) for i, v in zip(ids, values, strict=True)]

    def _split(self, context: str, continuation: str) -> tuple[list[int], int]:
        """The tokens of `context + continuation` and where the continuation's own tokens start.

        Raises:
            PromptTooLong: the two together do not fit in the context.
        """
        head, full = self.tokenize(context), self.tokenize(context + continuation)
        if len(full) > self.n_ctx:
            raise PromptTooLong(f"{len(full)} tokens to score; {self.name} holds {self.n_ctx}")
        return full, max(1, shared_prefix(head, full))

    def _teacher_forced(
        self, context: str, continuation: str, key: str, measure: Measure | None, pool: ContextPool | None = None
    ) -> Generator[None, None, tuple[list[int], list[float]]]:
        full, start = self._split(context, continuation)
        if start >= len(full):
            return [], []
        pool = pool or self._scoring
        scorer: Context = pool.acquire(full, key)
        try:
            values = yield from read_prompt(scorer, full, range(start, len(full)), last=False, measure=measure)
            return full[start:], values
        finally:
            pool.release(scorer, key)
