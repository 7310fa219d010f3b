"""The local chat models' llama.cpp `Llama`, made to read a prompt the same way whatever it read before, so
that a seed gives the same reply every time (issue 17).

Why: llama-cpp-python keeps the KV cache of its last request and decodes only the part of the next prompt it
lacks, in batches that start wherever the match ended (for a repeated question: the last token alone). On
llama.cpp's CPU backend a token's logits depend on how its decode batch was laid out (see simulator.contexts):
measured on SmolLM2-135M with "What is the capital of France?", the first reply token's logits moved by up to
0.58 between the prompt read in one batch and read as 36 tokens then 1, which changed 17 of 20 seeded replies at
temperature 0.8. Here a prompt is always read in `n_batch` batches from position 0, and a request keeps only
the whole batches of an earlier prompt that were read that way: the cache is then the same, bit for bit, as a
fresh context's, and a follow-up turn still re-reads at most one batch of what it shares with the last one.
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from typing import Any

from llama_cpp import Llama

from simulator.threads import fit


class RepeatableLlama(Llama):  # type: ignore[misc]
    """A `Llama` whose prompt reads do not depend on what its KV cache held before."""

    # Positions [0, canonical) of the cache were read as whole `n_batch` batches from position 0.
    canonical = 0
    fixed_threads: int | None = None  # the user's thread count; None: fitted to the free cores every decode
    applied_threads = 0

    def eval(self, tokens: Sequence[int]) -> None:
        """Every decode of a `Llama` goes through here: set its threads to what fits the machine now first."""
        self.applied_threads = fit(self._ctx.ctx, self.fixed_threads, self.applied_threads)
        super().eval(tokens)

    def generate(self, tokens: Sequence[int], *args: Any, **kwargs: Any) -> Generator[int, Any, None]:
        tokens = list(tokens)
        held = self.longest_token_prefix(self.input_ids[: self.n_tokens].tolist(), tokens)
        # Never the whole prompt: llama-cpp-python would then re-decode its last token on its own.
        keep = min(held, self.canonical, len(tokens) - 1)
        # `generate` keeps (at most) the first n_tokens positions and decodes the rest in n_batch batches.
        self.n_tokens = max(0, keep - keep % self.n_batch)
        self.canonical = len(tokens) - len(tokens) % self.n_batch
        return super().generate(tokens, *args, **kwargs)  # type: ignore[no-any-return]
