"""Mask-fidelity metrics of a base-lane reply: how firmly the mask held the simulacrum in character.

The in-character probability comes free with the prompt decode (see `Simulator.continue_document`'s cue);
the perplexity, the mean entropy and the largest surprisal come from what each token already carries. Only the
mask effect costs a decode: the reply is scored once more after the `raw` mask's document, on a scoring context,
as a step-wise job on the local worker so other lanes keep streaming meanwhile. The two perplexities come from different
decode shapes (one token a step, one batch), which llama.cpp's CPU kernels round slightly differently: a
token's probability moves by about 0.01 (measured), which averages out over a reply.
"""

from __future__ import annotations

import math
from collections.abc import Generator, Sequence
from dataclasses import dataclass

from personas.mask import HistoryTurn, Mask
from simulator.protocol import Finished, SimulatorProtocol
from simulator.remote import NoPromptProbabilities
from simulator.values import SMALLEST_P, EndedBy, FidelityMetrics, Token

RAW = Mask(name="raw", turn_format="{text}\n")


@dataclass(frozen=True)
class Measured:
    """What a lane knows about its reply when it ends; the input of `measure`."""

    mask: Mask
    history: list[HistoryTurn]  # the turns the document was rendered from (after any dropped for length)
    document: str  # the document the reply continued (a branch's prefix not included)
    tokens: list[Token]  # the whole reply, a branch's prefix included
    finished: Finished | None  # None when the worker cancelled the continuation before it finished
    key: str  # the lane's context key: its raw-mask scoring reuses its own earlier scoring
    # A contrast lane's tokens carry the mixed distribution's p, not the mask's: its perplexity under the mask
    # (and so the mask effect) is read again after the mask's own document.
    contrasted: bool = False


def cue(mask: Mask, document: str) -> str:
    """The character's speaker tag that ends `document` (`Ada:`), or "" when the mask has none."""
    opening = mask.turn_opening("character")
    return opening if not mask.is_raw and opening.strip() and document.endswith(opening) else ""


def ended_by(mask: Mask, finished: Finished | None) -> EndedBy:
    if finished is None or finished.reason == "cancelled":
        return "cancelled"
    if finished.reason in ("length", "error"):
        return finished.reason
    user_tag = mask.turn_opening("user").strip()
    if finished.stop is not None and not mask.is_raw and user_tag and user_tag in finished.stop:
        return "user_turn"
    return "natural"


def perplexity(probabilities: Sequence[float]) -> float | None:
    if not probabilities:
        return None
    return math.exp(-sum(math.log(max(p, SMALLEST_P)) for p in probabilities) / len(probabilities))


def measure(
    simulator: SimulatorProtocol, reply: Measured, *, score: bool = True, mask_effect: bool = True
) -> Generator[FidelityMetrics | None, None, None]:
    """Yields None while it scores, then the metrics. Without `score`, only what needs no decode (or request);
    without `mask_effect`, everything but the reply's second reading after the raw document (a run whose scorers
    do not read the mask effect skips that decode per sample). A server that cannot score a given text leaves the
    mask effect out, with the reason."""
    own = perplexity([t.p for t in reply.tokens if t.p is not None]) if not reply.contrasted else None
    if score and reply.contrasted and reply.tokens:
        text_read = "".join(t.text for t in reply.tokens)
        own = perplexity((yield from simulator.scoring(reply.document, text_read, key=f"{reply.key}:mask")))
    in_character = reply.finished.cue_p if reply.finished is not None else None
    tag = cue(reply.mask, reply.document)
    if score and tag and in_character is None:  # the branch's prefix changed the cue's tokens: score it apart
        in_character = yield from simulator.cue_probability(reply.document[: -len(tag)], tag, key=reply.key)
    raw = own if own is not None and _is_raw(reply) else None
    text = "".join(t.text for t in reply.tokens).lstrip()
    unavailable = None
    if score and mask_effect and raw is None and own is not None and text:
        # Scored as the raw mask would hold the reply: as a line of its own, so without the space after `Ada:`.
        try:
            raw = perplexity((yield from simulator.scoring(RAW.render(reply.history), text, key=f"{reply.key}:raw")))
        except NoPromptProbabilities as e:
            unavailable = str(e)
    how = ended_by(reply.mask, reply.finished)
    entropies = [t.entropy for t in reply.tokens if t.entropy is not None]
    surprisals = [t.surprisal for t in reply.tokens if t.surprisal is not None]
    yield FidelityMetrics(
        in_character_p=in_character,
        ended_by=how,
        spoke_for_user=how == "user_turn",
        perplexity=own,
        raw_perplexity=raw,
        mask_effect=raw / own if raw is not None and own else None,
        mask_effect_unavailable=unavailable,
        mean_entropy=sum(entropies) / len(entropies) if entropies else None,
        max_surprisal=max(surprisals, default=None),
        entropy_bound=any(t.entropy_bound for t in reply.tokens) if entropies else None,
    )


def _is_raw(reply: Measured) -> bool:
    return reply.document == RAW.render(reply.history)
