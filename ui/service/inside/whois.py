"""Who is speaking? A text's log-likelihood under each mask's document (teacher forcing: the mask rendered up to its
character's cue, then the text), the posterior over the masks under a prior, and where in the text the two likeliest
masks part. The text is a saved reply (`reply`) or any text (`text`); the page, `simulacra whois` and the
`mask_posterior` scorer all read it from here."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from pydantic import BaseModel

from personas.catalog import load_mask
from personas.mask import HistoryTurn, Mask
from simulator.registry import Registry
from simulator.remote import NoPromptProbabilities
from simulator.scoring import document_for, score_texts
from ui.service.errors import ServiceError

if TYPE_CHECKING:
    from ui.service.conversations.service import Conversations

MAX_MASKS = 8  # each mask is one forward pass over its document and the text


class TokenLogprob(BaseModel):
    text: str
    logprob: float


class MaskReading(BaseModel):
    """One mask's reading: the exact `document` the model read, the `text` scored after it (with the space the mask's
    turn format puts after the cue), each token's log-probability, their sum, and the mask's prior and posterior."""

    mask: str
    document: str
    text: str
    tokens: list[TokenLogprob]
    logprob: float
    prior: float
    posterior: float


class HeatCell(BaseModel):
    """A stretch of the text both masks split at the same places (usually one token) and its log-likelihood ratio:
    log P(stretch | the likeliest mask) - log P(stretch | the runner-up); above 0, the likeliest mask explains it
    better."""

    text: str
    llr: float


class WhoIs(BaseModel):
    """The masks ranked by posterior (likeliest first) and the heat map between the first two."""

    model: str
    message_id: int | None = None
    worn: str | None = None  # the mask the reply's lane wore, if any
    text: str
    masks: list[MaskReading]
    heat: list[HeatCell]
    notice: str | None = None


def reply(
    conversations: Conversations,
    message_id: int,
    masks: Sequence[str],
    *,
    model: str | None = None,
    prior: Mapping[str, float] | None = None,
) -> WhoIs:
    """Who is speaking in a saved reply: its text scored under each mask, after the history its lane had seen.
    A chat model's reply (its lane wore no mask) is still scored, by `model` or the first base model.

    Raises:
        LaneSpecError: the message is not a saved reply. MaskError: a mask does not exist.
        ServiceError: no masks, no text, a bad prior, or a model that cannot score a text.
    """
    source, lane, history = conversations.reply_source(message_id)
    text = source.content.strip()
    if not text:
        raise ServiceError(f"message {message_id} has no text to score")
    scorer = model or (lane.model if lane.kind == "simulator" else default_simulator(conversations.registry))
    notice = None
    if lane.kind != "simulator":
        notice = f"message {message_id} is a chat model's reply (its lane wore no mask): its text is scored by {scorer}"
    elif lane.mask_name is None:
        notice = (
            f"message {message_id} came from a base lane with no mask: its text is scored under the masks asked for"
        )
    found = load_masks(masks, conversations.masks_dir)
    result = score(conversations.registry, scorer, found, history, text, prior)
    return result.model_copy(update={"message_id": message_id, "worn": lane.mask_name, "notice": notice})


def text(
    conversations: Conversations,
    text: str,
    masks: Sequence[str],
    *,
    user: str | None = None,
    model: str | None = None,
    prior: Mapping[str, float] | None = None,
) -> WhoIs:
    """Who is speaking in a pasted text, read as the reply to `user`'s message (or as the mask's first turn).

    Raises:
        MaskError: a mask does not exist. ServiceError: as `reply`.
    """
    if not text.strip():
        raise ServiceError("there is no text to score: paste some")
    history = [HistoryTurn(role="user", text=user)] if user else []
    found = load_masks(masks, conversations.masks_dir)
    scorer = model or default_simulator(conversations.registry)
    return score(conversations.registry, scorer, found, history, text.strip(), prior)


def default_simulator(registry: Registry) -> str:
    """The first base model registered (the bundled one, unless settings say otherwise)."""
    for name, entry in registry.entries.items():
        if entry.kind == "simulator":
            return name
    raise ServiceError("no base model is registered to score a text with")


def load_masks(names: Sequence[str], masks_dir: Path | None) -> list[Mask]:
    """The masks asked for, each once, in the order given.

    Raises:
        MaskError: one does not exist (the message lists those that do). ServiceError: none, or too many.
    """
    unique = list(dict.fromkeys(names))
    if not unique:
        raise ServiceError("name at least one mask to score the text under (e.g. --mask assistant --mask raw)")
    if len(unique) > MAX_MASKS:
        raise ServiceError(f"{len(unique)} masks asked for; at most {MAX_MASKS} at a time")
    return [load_mask(name, masks_dir) for name in unique]


def spoken(mask: Mask, text: str) -> str:
    """`text` as the mask's document goes on after the character's cue: the rest of the turn format's opening (the
    space in `Ada: {text}`) and then the text."""
    head = mask.turn_format.split("{text}", 1)[0].replace("{name}", mask.character_name)
    return head[len(mask.turn_opening("character")) :] + text


def score(
    registry: Registry,
    model: str,
    masks: Sequence[Mask],
    history: Sequence[HistoryTurn],
    text: str,
    prior: Mapping[str, float] | None = None,
) -> WhoIs:
    """`text` scored under every mask (one forward pass each, on the local worker or the model's server), the
    posterior P(mask | text) ∝ prior(mask) · P(text | mask), the masks ranked and the heat map of the first two.

    Raises:
        ServiceError: a bad prior, or a model that cannot score a text (a chat model, a server without prompt
            probabilities, a text too long for its context), said once.
    """
    weights = prior_weights([m.name for m in masks], prior)
    pairs = [(document_for(mask, history), spoken(mask, text)) for mask in masks]
    try:
        scores = score_texts(registry, model, pairs)
    except NoPromptProbabilities as e:
        raise ServiceError(
            f"who is speaking? needs the probability of every token of a given text, and {model}'s server returns"
            " none (vLLM does, with echo; llama-server and Ollama do not): score with an in-process model instead"
        ) from e
    logprobs = np.array([s.logprob for s in scores])
    posteriors = _normalised(np.log(weights) + logprobs) if np.isfinite(logprobs).any() else weights
    readings = [
        MaskReading(
            mask=mask.name,
            document=scored.document,
            text=scored.text,
            tokens=[TokenLogprob(text=t.text, logprob=t.logprob) for t in scored.tokens],
            logprob=scored.logprob,
            prior=float(w),
            posterior=float(p),
        )
        for mask, scored, w, p in zip(masks, scores, weights, posteriors, strict=True)
    ]
    ranked = sorted(readings, key=lambda r: (-r.posterior, -r.logprob))
    by_name = {m.name: m for m in masks}
    heat = heat_map(ranked[0], ranked[1], by_name, text) if len(ranked) > 1 else []
    return WhoIs(model=model, text=text, masks=ranked, heat=heat)


def _normalised(log_weights: np.ndarray) -> np.ndarray:
    """exp(log_weights) summing to 1, computed from the largest so no likelihood underflows."""
    shifted = np.exp(log_weights - log_weights.max())
    return np.asarray(shifted / shifted.sum())


def prior_weights(names: Sequence[str], prior: Mapping[str, float] | None) -> np.ndarray:
    """The prior over `names`, normalised: uniform, or the weights given (a mask left out weighs 1).

    Raises:
        ServiceError: a weight for a mask not asked for, or a weight that is not a positive number.
    """
    prior = prior or {}
    for name, weight in prior.items():
        if name not in names:
            raise ServiceError(f"the prior names mask {name!r}, which is not among the masks asked for")
        if not (np.isfinite(weight) and weight > 0):
            raise ServiceError(f"the prior weight of {name!r} must be a positive number, not {weight}")
    weights = np.array([float(prior.get(name, 1.0)) for name in names])
    return weights / weights.sum()


def heat_map(first: MaskReading, second: MaskReading, masks: Mapping[str, Mask], text: str) -> list[HeatCell]:
    """Per stretch of `text`, log P(stretch | first) - log P(stretch | second). The two masks' texts start with their
    own gap after the cue and may split the first word differently, so the text is cut only where both readings
    end a token; a stretch is usually one token."""
    ends = [_token_ends(r, len(spoken(masks[r.mask], ""))) for r in (first, second)]
    if any(not e or e[-1][0] != len(text) for e in ends):
        return [HeatCell(text=text, llr=first.logprob - second.logprob)]  # no common cut: the text as one stretch
    bounds = sorted({end for end, _ in ends[0] if end > 0} & {end for end, _ in ends[1] if end > 0})
    sums = [_stretch_sums(e, bounds) for e in ends]
    starts = [0, *bounds[:-1]]
    return [
        HeatCell(text=text[start:end], llr=a - b)
        for start, end, a, b in zip(starts, bounds, sums[0], sums[1], strict=True)
    ]


def _token_ends(reading: MaskReading, gap: int) -> list[tuple[int, float]]:
    """Each token's end as an offset into the text (after the gap), with its log-probability."""
    position, out = -gap, []
    for token in reading.tokens:
        position += len(token.text)
        out.append((max(position, 0), token.logprob))
    return out


def _stretch_sums(ends: list[tuple[int, float]], bounds: list[int]) -> list[float]:
    sums, j = [0.0] * len(bounds), 0
    for end, logprob in ends:
        while bounds[j] < end:
            j += 1
        sums[j] += logprob
    return sums
