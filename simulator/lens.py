"""Logit lens: at one position, what each layer would predict if the model stopped there: its residual stream
through the final norm and the output matrix, each layer's top tokens over the whole vocabulary.

How: capture every layer's residual at the position; then, for each layer, decode that position again on the
capture context while the eval callback writes that layer's residual over the last layer's output (`l_out-N`),
so llama.cpp's own final norm and output matrix turn it into logits. No weights are read in Python (gemma's
262k × 640 output matrix would have to be dequantized from the GGUF, and the GGUF's 262k-token vocabulary alone
takes 12 s to parse with `gguf`), nothing is restricted to candidate tokens, and the last layer's lens is the
model's own prediction (the same top tokens; a probability may differ in the second digit, as a decode's batch
layout moves the last bits). It costs one single-token decode per layer: 1.5 s for gemma-3-270m's 18 on 2 cores.

Early layers read unreliably: their residual is in a basis the output matrix was not trained to read (the lens
of "interpreting GPT: the logit lens", nostalgebraist, 2020, is known to fail there, more so on small models),
so layers below a third of the depth are labelled as such.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from simulator import spread
from simulator.activations import LocalActivations
from simulator.contexts import read_prompt
from simulator.errors import LaneError
from simulator.values import Alternative

if TYPE_CHECKING:
    from simulator.contexts import Context

UNRELIABLE_DEPTH = 1 / 3


@dataclass(frozen=True)
class LensLayer:
    """One layer's prediction: its `top` tokens, and the probability and rank (1 = its likeliest) it gave the
    token that actually came next."""

    layer: int
    top: list[Alternative]
    actual_p: float
    actual_rank: int
    unreliable: bool


@dataclass(frozen=True)
class Lens:
    """Every layer's prediction for the text's token `index` (`actual`), read at the position before it."""

    index: int
    actual: str
    layers: list[LensLayer]


def _unused(_logits: np.ndarray, _token: int, _scratch: np.ndarray) -> float:
    return 0.0


class LocalLens(LocalActivations):
    """`logit_lens` for `simulator.base.Simulator`."""

    def logit_lens(
        self, document: str, text: str, index: int, *, k: int = 5, key: str = "lens"
    ) -> Generator[None, None, Lens]:
        """Each layer's top-`k` prediction for token `index` of `text` read after `document`, as a step-wise job.

        Raises:
            LaneError: `index` is not a token of `text`.
            PromptTooLong: the two together do not fit in the context.
        """
        full, start = self._split(document, text)
        if not 0 <= index < len(full) - start:
            raise LaneError(
                f"token {index} is out of range: the text has {len(full) - start} tokens (0 to {len(full) - start - 1})"
            )
        position, last = start + index - 1, self.n_layer - 1
        context = self._capture.acquire([], key)
        try:
            residuals = yield from self._residuals(context, full[: position + 1], position)
            layers = []
            for layer in range(self.n_layer):
                logits = yield from self._lens_logits(context, full[position], residuals[layer], last)
                layers.append(self._prediction(layer, logits, full[position + 1], k))
        finally:
            context.recorder.start((), set())
            self._capture.release(context, key)
        return Lens(index=index, actual=self._piece(full[position + 1]).decode("utf-8", "replace"), layers=layers)

    def _residuals(self, context: Context, prompt: list[int], position: int) -> Generator[None, None, np.ndarray]:
        recorder = context.recorder
        recorder.start(range(self.n_layer), {position})
        context.truncate(0)
        yield from read_prompt(context, prompt, range(0), last=True, measure=_unused)
        if recorder.error is not None:
            raise LaneError(f"the logit lens failed: {recorder.error}")
        return np.stack([recorder.rows[layer, position] for layer in range(self.n_layer)])

    def _lens_logits(
        self, context: Context, token: int, residual: np.ndarray, last: int
    ) -> Generator[None, None, np.ndarray]:
        """The logits at the context's last position when the last layer outputs `residual` there."""
        context.truncate(len(context.tokens) - 1)
        context.recorder.start((), set(), {f"l_out-{last}": residual[None, :]})
        context.decode([token], lambda _position: True)
        yield None
        if context.recorder.error is not None:
            raise LaneError(f"the logit lens failed: {context.recorder.error}")
        return context.logits(-1).copy()

    def _prediction(self, layer: int, logits: np.ndarray, actual: int, k: int) -> LensLayer:
        space = spread.scratch(logits.size)
        log_total, _ = spread.log_total_and_entropy(logits, space)
        candidates = spread.top_indices(logits, k, space)
        top = [
            Alternative(text=self._piece(int(i)).decode("utf-8", "replace"), p=float(np.exp(logits[i] - log_total)))
            for i in candidates
        ]
        return LensLayer(
            layer=layer,
            top=top,
            actual_p=float(np.exp(logits[actual] - log_total)),
            actual_rank=int((logits > logits[actual]).sum()) + 1,
            unreliable=layer < self.n_layer * UNRELIABLE_DEPTH,
        )
