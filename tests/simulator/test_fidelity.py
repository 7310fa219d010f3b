# How firmly a mask holds its simulacrum, measured on the bundled gemma-3-270m: the probability of the
# character's speaker tag where its turn begins, why a reply ended, its perplexity under its own mask and
# under the raw document, and `Simulator.score`, which those rest on.

from __future__ import annotations

import hashlib
import math

import pytest

from personas.catalog import load_mask
from personas.mask import HistoryTurn, Mask
from simulator.base import Finished, Simulator
from simulator.metrics import perplexity
from simulator.registry import Registry
from simulator.turn import RAW, LaneConfig, run_turn
from simulator.values import FidelityMetrics, SamplingSettings
from tests.support.lane_events import collect, tokens_of

pytestmark = pytest.mark.model

ASSISTANT = load_mask("assistant")
GREEDY = SamplingSettings(temperature=0.0, max_tokens=40)
FRANCE = [HistoryTurn(role="user", text="What is the capital of France?")]


@pytest.fixture(scope="module")
def base(registry: Registry) -> Simulator:
    return registry.simulator(registry.resolve("base"))


def lane(key: str, mask: Mask | None, settings: SamplingSettings = GREEDY, model: str = "base") -> LaneConfig:
    return LaneConfig(label=key, model=model, mask=mask, settings=settings, key=key)


def in_character(base: Simulator, mask: Mask, history: list[HistoryTurn]) -> float:
    document, tag = mask.render(history), mask.turn_opening("character")
    return math.prod(base.score(document[: -len(tag)], tag))


def test_the_assistant_frame_makes_its_character_likely_to_speak_next(base: Simulator) -> None:
    framed = in_character(base, ASSISTANT, FRANCE)
    no_frame = in_character(base, ASSISTANT.model_copy(update={"frame": ""}), FRANCE)
    bare = in_character(base, ASSISTANT.model_copy(update={"frame": "", "examples": []}), FRANCE)

    assert framed > 0.5
    # Without the frame the two example turns still name Ada, so she stays likely, but less so; with neither,
    # nothing in the document says who answers. (Not every mask works this way: the interview's frame never
    # names the guest, and removing it changes little.)
    assert no_frame < framed - 0.1
    assert bare < 0.05


def test_a_lanes_in_character_probability_is_the_tags_probability_where_its_turn_begins(
    registry: Registry, base: Simulator
) -> None:
    (events,) = collect(run_turn([lane("fidelity-cue", ASSISTANT)], [FRANCE], registry), 1)

    metrics = events[-1].metrics
    assert metrics is not None and metrics.in_character_p is not None
    assert metrics.in_character_p == pytest.approx(in_character(base, ASSISTANT, FRANCE), rel=1e-3)


def test_metrics_say_a_reply_stopped_on_the_users_tag_and_spoke_for_the_user(registry: Registry) -> None:
    (events,) = collect(run_turn([lane("fidelity-user", ASSISTANT)], [FRANCE], registry), 1)

    done = events[-1]
    assert done.finish_reason == "stop"
    assert done.metrics is not None
    assert done.metrics.ended_by == "user_turn" and done.metrics.spoke_for_user
    assert "Paris" in "".join(t.text for t in tokens_of(events))


def test_metrics_say_a_reply_hit_the_length_limit(registry: Registry) -> None:
    short = GREEDY.model_copy(update={"max_tokens": 3})

    (events,) = collect(run_turn([lane("fidelity-short", ASSISTANT, short)], [FRANCE], registry), 1)

    done = events[-1]
    assert done.finish_reason == "length" and len(tokens_of(events)) == 3
    assert done.metrics is not None
    assert done.metrics.ended_by == "length" and not done.metrics.spoke_for_user


def test_perplexities_and_mask_effect_on_the_done_event(registry: Registry, base: Simulator) -> None:
    lanes = [
        lane("fidelity-mask", ASSISTANT),
        lane("fidelity-raw", load_mask("raw")),
        lane("fidelity-chat", None, GREEDY.model_copy(update={"seed": 5, "max_tokens": 8}), model="chat"),
    ]

    masked, raw, chat = collect(run_turn(lanes, [FRANCE] * 3, registry), 3)

    metrics = masked[-1].metrics
    assert isinstance(metrics, FidelityMetrics)
    tokens = tokens_of(masked)
    own = math.exp(-sum(math.log(t.p or 0.0) for t in tokens) / len(tokens))
    assert metrics.perplexity == pytest.approx(own)
    text = "".join(t.text for t in tokens).lstrip()
    under_raw = base.score(RAW.render(FRANCE), text)
    assert metrics.raw_perplexity == pytest.approx(math.exp(-sum(map(math.log, under_raw)) / len(under_raw)))
    assert perplexity([0.5, 0.125]) == pytest.approx(4.0)
    assert metrics.mask_effect == pytest.approx(metrics.raw_perplexity / metrics.perplexity)
    assert metrics.mask_effect > 1, "the assistant frame makes its own answer more predictable than no frame"
    assert metrics.compact() == {
        "in_character_p": round(metrics.in_character_p or 0, 4),
        "ended_by": "user_turn",
        "spoke_for_user": True,
        "perplexity": round(metrics.perplexity, 4),
        "raw_perplexity": round(metrics.raw_perplexity, 4),
        "mask_effect": round(metrics.mask_effect, 4),
        # Read from the tokens: their mean entropy and the surprisal of the least likely one.
        "mean_entropy": round(sum(t.entropy or 0 for t in tokens) / len(tokens), 4),
        "max_surprisal": round(max(-math.log(t.p or 0.0) for t in tokens), 4),
        "entropy_bound": False,
    }

    raw_metrics = raw[-1].metrics
    assert raw_metrics is not None and raw_metrics.in_character_p is None, "a raw mask has no speaker tag"
    assert raw_metrics.mask_effect == 1.0 and raw_metrics.raw_perplexity == raw_metrics.perplexity

    assert chat[-1].metrics is None and chat[-1].model_sha256 is None and chat[-1].seed == 5
    with base.path.open("rb") as f:
        assert masked[-1].model_sha256 == hashlib.file_digest(f, "sha256").hexdigest() == raw[-1].model_sha256
    assert masked[-1].seed is not None and raw[-1].seed is not None
    assert metrics.model_dump(mode="json") == FidelityMetrics.model_validate(metrics.model_dump()).model_dump()


def test_metrics_can_be_left_out(registry: Registry) -> None:
    config = LaneConfig(label="no-metrics", model="base", mask=ASSISTANT, settings=GREEDY, key="x", metrics=False)

    (events,) = collect(run_turn([config], [FRANCE], registry), 1)

    assert events[-1].metrics is None and events[-1].seed is not None and events[-1].model_sha256


def test_score_gives_the_probabilities_generation_reported(base: Simulator) -> None:
    # 40 tokens: more than one decode's worth of logit rows, so the batches are split.
    document = "The history of the Roman Empire begins"
    tokens = [
        t
        for t in base.continue_document(document, SamplingSettings(temperature=0.0, max_tokens=40))
        if not isinstance(t, Finished)
    ]
    text = "".join(t.text for t in tokens)
    assert len(base.tokenize(document + text)) - len(base.tokenize(document)) == len(tokens), "precondition"

    scored = base.score(document, text)

    assert len(scored) == len(tokens)
    generated = [t.p or 0.0 for t in tokens]
    # One batch against one token a step: llama.cpp's CPU kernels round differently (see simulator.contexts),
    # which moves a probability by about 0.01 and now and then by 0.1; over a reply it averages out.
    assert scored[0] == pytest.approx(generated[0], abs=1e-4)  # both read from the document's last position
    assert all(abs(p - g) < 0.15 for p, g in zip(scored, generated, strict=True))
    assert perplexity(scored) == pytest.approx(perplexity(generated), rel=0.05)


def test_score_of_text_that_merges_with_the_context_scores_the_merged_tokens(base: Simulator) -> None:
    whole = base.tokenize("Hello world")
    head = base.tokenize("Hello wor")
    common = next(i for i, (a, b) in enumerate(zip(head, whole, strict=False)) if a != b)

    scored = base.score("Hello wor", "ld")

    assert len(scored) == len(whole) - common
    assert all(0.0 < p <= 1.0 for p in scored)
