# Samples of one document decoded together (simulator/batch.py) on the bundled gemma-3-270m: in the exact layout
# each batched sample is, token for token and probability for probability, the reply its seed gives alone; in the
# fast layout a sample is its seed's reply in that layout whatever group it is drawn in, alone included; a turn
# whose lanes are samples of one base lane runs them as one batched job, and each lane still ends with one event.

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from dataclasses import replace

import pytest

from personas.catalog import load_mask
from personas.mask import HistoryTurn
from simulator.base import Finished, Simulator
from simulator.batch import FAST_ROWS, MAX_SEQUENCES
from simulator.metrics import cue
from simulator.registry import Registry
from simulator.turn import LaneConfig, run_turn
from simulator.values import EXACT_ROWS, GroupLayout, SamplingSettings, Token
from tests.support.lane_events import collect, text_of, tokens_of

pytestmark = pytest.mark.model

ASSISTANT = load_mask("assistant")
STORY = [HistoryTurn(role="user", text="Tell me a short story about a lighthouse keeper.")]
WARM = SamplingSettings(temperature=0.8, top_p=0.95, top_k=40, max_tokens=40)


@pytest.fixture(scope="module")
def base(registry: Registry) -> Simulator:
    simulator = registry.simulator(registry.resolve("base"))
    assert isinstance(simulator, Simulator)
    return simulator


def alone(base: Simulator, document: str, settings: SamplingSettings) -> tuple[list[Token], Finished]:
    steps = list(base.continue_document(document, settings, lane_key="batch-check"))
    finished = steps.pop()
    assert isinstance(finished, Finished) and all(isinstance(s, Token) for s in steps)
    return steps, finished  # type: ignore[return-value]


def together(
    base: Simulator, document: str, settings: Sequence[SamplingSettings], **options: object
) -> tuple[list[list[Token]], list[Finished]]:
    tokens: list[list[Token]] = [[] for _ in settings]
    finished: list[Finished | None] = [None] * len(settings)
    for index, step in base.continue_samples(document, settings, **options):  # type: ignore[arg-type]
        assert finished[index] is None, f"sample {index} went on after it finished"
        if isinstance(step, Finished):
            finished[index] = step
        else:
            tokens[index].append(step)
    assert all(f is not None for f in finished)
    return tokens, finished  # type: ignore[return-value]


def test_each_batched_sample_is_the_reply_its_seed_gives_alone_at_temperature_08(base: Simulator) -> None:
    document = ASSISTANT.render(STORY)
    settings = [WARM.model_copy(update={"seed": 1000 + i, "stop": ASSISTANT.stop_sequences()}) for i in range(6)]

    tokens, finished = together(base, document, settings)

    for i, setting in enumerate(settings):
        expected_tokens, expected_finished = alone(base, document, setting)
        assert text_of(tokens[i]) == text_of(expected_tokens), f"seed {setting.seed}"
        assert tokens[i] == expected_tokens, f"seed {setting.seed}: same text, other probabilities"
        assert finished[i] == replace(expected_finished, group=GroupLayout(rows=EXACT_ROWS, members=6, position=i))
    assert len({text_of(t) for t in tokens}) == len(settings)
    # Samples that end early drop out while the others go on.
    assert len({len(t) for t in tokens}) > 1, [len(t) for t in tokens]


def test_more_samples_than_one_batch_are_drawn_in_waves_each_as_alone(base: Simulator) -> None:
    document = "The three most important inventions of the last century were"
    n = MAX_SEQUENCES + 2
    settings = [WARM.model_copy(update={"seed": 7 + i, "max_tokens": 6}) for i in range(n)]

    tokens, finished = together(base, document, settings)

    assert [f.seed for f in finished] == [s.seed for s in settings]
    for i in (0, MAX_SEQUENCES - 1, MAX_SEQUENCES, n - 1):
        assert (tokens[i], replace(finished[i], group=None)) == alone(base, document, settings[i]), f"sample {i}"


def test_a_fast_sample_is_its_seeds_reply_in_any_group_alone_included(base: Simulator) -> None:
    document = ASSISTANT.render(STORY)
    settings = [WARM.model_copy(update={"seed": 70 + i, "max_tokens": 16, "stop": [".", "\n"]}) for i in range(8)]

    tokens, finished = together(base, document, settings, rows=FAST_ROWS)
    # Another document on a context of more cells in between: the next groups land on another context and cache.
    cancel = threading.Event()
    cancel.set()
    together(base, "Once upon a time", [s.model_copy(update={"max_tokens": 300}) for s in settings], cancel=cancel)
    picked = [7, 2, 0]  # other members, other streams (sample 7 on stream 0)
    fewer, _ = together(base, document, [settings[i] for i in picked], rows=FAST_ROWS)
    lone, lone_finished = together(base, document, settings[5:6], rows=FAST_ROWS)

    assert len({len(t) for t in tokens}) > 1, "samples end at different times: padding rows take their places"
    assert fewer == [tokens[i] for i in picked]  # every token, probability, alternative and entropy
    assert lone == [tokens[5]] and replace(lone_finished[0], group=None) == replace(finished[5], group=None)
    assert [f.group for f in finished] == [GroupLayout(rows=FAST_ROWS, members=8, position=i) for i in range(8)]
    assert lone_finished[0].group == GroupLayout(rows=FAST_ROWS, members=1, position=0)
    # Drawn the exact way the same seed may differ in the last bits: 8 rows take another kernel than one.
    exact_tokens, _ = alone(base, document, settings[0])
    assert [t.p for t in exact_tokens] != [t.p for t in tokens[0]]


def test_the_cue_probability_is_read_once_for_all_samples(base: Simulator) -> None:
    document = ASSISTANT.render(STORY)
    tag = cue(ASSISTANT, document)
    settings = [WARM.model_copy(update={"seed": s, "max_tokens": 4}) for s in (3, 4)]

    _, finished = together(base, document, settings, cue=tag)

    expected = list(base.continue_document(document, settings[0], lane_key="batch-check", cue=tag))[-1]
    assert tag and isinstance(expected, Finished) and expected.cue_p is not None
    assert [f.cue_p for f in finished] == [expected.cue_p] * 2


def test_a_cancelled_batch_ends_every_sample_as_cancelled(base: Simulator) -> None:
    cancel = threading.Event()
    settings = [WARM.model_copy(update={"seed": s, "max_tokens": 200}) for s in range(4)]
    seen: dict[int, list[object]] = {i: [] for i in range(4)}

    for index, step in base.continue_samples("Once upon a time", settings, cancel=cancel):
        seen[index].append(step)
        if sum(len(s) for s in seen.values()) == 6:
            cancel.set()

    ends = [steps[-1] for steps in seen.values()]
    assert all(isinstance(end, Finished) and end.reason == "cancelled" for end in ends), ends
    assert sum(len(s) - 1 for s in seen.values()) < 4 * 20


def sample_lanes(n: int, settings: SamplingSettings = WARM, **fields: object) -> list[LaneConfig]:
    """Lanes as `ui.service.conversations.lanes.sample_configs` makes them: alike but for the key and the seed."""
    return [
        LaneConfig(
            label="base@assistant",
            model="base",
            mask=ASSISTANT,
            settings=settings.model_copy(update={"seed": 50 + i}),
            key=f"lane-9-s{i}",
            **fields,  # type: ignore[arg-type]
        )
        for i in range(n)
    ]


@pytest.fixture
def batches(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many samples each `continue_samples` call decoded (the real method runs)."""
    sizes: list[int] = []
    original = Simulator.continue_samples

    def counted(self: Simulator, document: str, settings: Sequence[SamplingSettings], **options: object) -> Iterator:  # type: ignore[type-arg]
        sizes.append(len(settings))
        return original(self, document, settings, **options)  # type: ignore[arg-type]

    monkeypatch.setattr(Simulator, "continue_samples", counted)
    return sizes


def test_a_turn_of_samples_runs_as_one_batch_beside_other_lanes(registry: Registry, batches: list[int]) -> None:
    samples = sample_lanes(3, WARM.model_copy(update={"max_tokens": 16}))
    other = LaneConfig(label="raw", model="base", mask=None, settings=WARM.model_copy(update={"seed": 5}), key="raw")
    chat = LaneConfig(label="chat", model="chat", mask=ASSISTANT, settings=SamplingSettings(max_tokens=8), key="chat")

    lanes = collect(run_turn([*samples, other, chat], [STORY] * 5, registry), 5)

    assert batches == [3]
    base = registry.simulator(registry.resolve("base"))
    assert isinstance(base, Simulator)
    for config, events in zip(samples, lanes[:3], strict=True):
        done = events[-1]
        assert done.seed == config.settings.seed and done.metrics is not None
        document = events[0].prompt
        assert isinstance(document, str)
        settings = config.settings.model_copy(update={"stop": ASSISTANT.stop_sequences()})
        expected, finished = alone(base, document, settings)
        assert tokens_of(events) == expected and done.finish_reason == finished.reason
        assert done.group is not None and done.group.exact
    assert tokens_of(lanes[3]) and tokens_of(lanes[4])


def test_a_fast_sample_lane_gives_its_reply_again_alone(registry: Registry, batches: list[int]) -> None:
    samples = sample_lanes(4, WARM.model_copy(update={"max_tokens": 8}), metrics=False, batch_rows=FAST_ROWS)

    group = collect(run_turn(samples, [STORY] * 4, registry), 4)
    again = collect(run_turn(samples[2:3], [STORY], registry), 1)  # "Replay this reply" of one of them

    assert batches == [4, 1]
    assert tokens_of(again[0]) == tokens_of(group[2])
    assert [events[-1].group for events in group] == [
        GroupLayout(rows=FAST_ROWS, members=4, position=i) for i in range(4)
    ]
    assert again[0][-1].group == GroupLayout(rows=FAST_ROWS, members=1, position=0)


def test_a_failing_batch_fails_every_sample_lane_once(registry: Registry, batches: list[int]) -> None:
    too_long = "word " * (registry.n_ctx + 10)
    samples = sample_lanes(3, document=too_long, metrics=False)

    lanes = collect(run_turn(samples, [STORY] * 3, registry), 3, errors=True)

    assert batches == [3]
    for events in lanes:
        assert events[-1].kind == "error" and "tokens" in (events[-1].error or ""), events[-1]
