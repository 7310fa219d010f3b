"""Run one turn across lanes: every lane streams its own events, and one failing lane never stops the others."""

from __future__ import annotations

import json
import queue
import random
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from typing import Any

from personas.mask import HistoryTurn, Mask
from simulator.contrast import ContrastConfig, Documents, contrast_lane
from simulator.errors import SimulacraError
from simulator.events import EventKind, LaneEvent, Timings
from simulator.metrics import RAW, Measured, cue, measure
from simulator.protocol import Continuation, Finished, SimulatorProtocol
from simulator.registry import ModelEntry, Registry
from simulator.retries import RetryPolicy
from simulator.sample_group import SampleGroup
from simulator.slots import ServerSlots
from simulator.steering import ControlVector
from simulator.values import EXACT_ROWS, FidelityMetrics, SamplingSettings, Token

__all__ = ["RAW", "LaneConfig", "lane_messages", "run_turn"]


@dataclass(frozen=True)
class LaneConfig:
    """What one lane needs for a turn. `key` names its llama.cpp context (its KV cache).

    For base lanes only: `document` continues exactly that text instead of rendering `mask` with the
    history (replay, branch); `prefix` is a branch's start, the reply's first tokens plus the chosen one,
    shown first and continued from; `metrics` computes the mask-fidelity metrics for the `done` event;
    `contrast` makes it a contrast lane, `mask` − `contrast.mask` (`simulator.contrast`); `steering` adds a
    control vector to every decode of the lane's reply (`simulator.steering`; in-process base models only);
    `batch_rows` is the layout the turn's samples of one base lane are decoded in (`simulator.batch`):
    EXACT_ROWS, each its seed's lone reply; FAST_ROWS, about twice as fast, each its seed's reply in that layout
    (the `done` event's `group`; a replay passes it again, alone or with any other samples).
    For chat lanes only: `retry` retries a server's refusal (429, 5xx) before the reply streams; experiment
    samples set it, interactive turns never do (`simulator.retries`).
    `slots`: a run's share of the lane's server; the reply waits for one of them before its request goes out
    and gives it back once it has streamed and been measured (`simulator.slots`); its times start once it has one.
    """

    label: str
    model: str
    mask: Mask | None
    settings: SamplingSettings
    system_prompt: str | None = None
    key: str = "default"
    alternatives: int = 5
    document: str | None = None
    prefix: tuple[Token, ...] = ()
    metrics: bool = True
    contrast: ContrastConfig | None = None
    steering: ControlVector | None = None
    retry: RetryPolicy | None = None
    batch_rows: int = EXACT_ROWS
    mask_effect: bool = True  # with `metrics`: the raw-mask reading of the reply too (a decode, or a request)
    slots: ServerSlots | None = None


def lane_messages(lane: LaneConfig, history: list[HistoryTurn]) -> list[dict[str, str]]:
    """What a chat lane is sent: the mask as a system prompt (or the lane's own), then the history."""
    messages = (lane.mask or RAW).as_messages(history)
    if lane.system_prompt:
        messages = [m for m in messages if m["role"] != "system"]
        messages.insert(0, {"role": "system", "content": lane.system_prompt})
    return messages


class _Clock:
    def __init__(self, started: float) -> None:
        self.started = started
        self.first: float | None = None
        self.count = 0

    def tick(self) -> None:
        self.count += 1
        if self.first is None:
            self.first = time.perf_counter()

    def timings(self) -> Timings:
        now = time.perf_counter()
        ttft = None if self.first is None else (self.first - self.started) * 1000
        after_first = None if self.first is None else now - self.first
        rate = self.count / after_first if after_first and self.count else None
        return Timings(ttft_ms=ttft, total_ms=(now - self.started) * 1000, tokens_per_s=rate)


@dataclass
class _Lane:
    """One lane's run: where its events go and how it is timed."""

    index: int
    config: LaneConfig
    registry: Registry
    clock: _Clock
    cancel: threading.Event
    out: queue.Queue[LaneEvent | None]
    group: SampleGroup | None = None  # the other samples of its base lane, decoded in one batch with it

    def put(self, kind: EventKind, **fields: Any) -> None:
        self.out.put(LaneEvent(self.index, kind, **fields))

    # The lane as a `LaneSeat`: what a simulator needs of it to stream its reply.

    def decode(self, continuation: Continuation) -> Iterator[Token | Finished]:
        if self.group is not None:
            return self.group.join(self.index, continuation)
        return self.registry.worker.submit(lambda: continuation.alone(self.cancel), self.cancel)

    def leave_group(self) -> None:
        if self.group is not None:
            self.group.leave(self.index)

    def notice(self, text: str) -> None:
        self.put("notice", notice=text)


def _run_lane(lane: _Lane, history: list[HistoryTurn]) -> None:
    try:
        entry = lane.registry.resolve(lane.config.model)
        if entry.kind == "simulator":
            _run_simulator(lane, entry, history)
        else:
            lane.leave_group()
            _run_chat(lane, entry, history)
    except SimulacraError as e:
        lane.put("error", error=str(e), timings=lane.clock.timings())
    except Exception as e:  # noqa: BLE001 - any failure stays in its own lane, described for the user
        lane.put("error", error=f"{lane.config.model}: {type(e).__name__}: {e}", timings=lane.clock.timings())
    finally:
        lane.leave_group()  # never leave the other samples waiting for this one
        lane.out.put(None)


def _run_chat(lane: _Lane, entry: ModelEntry, history: list[HistoryTurn]) -> None:
    config = lane.config
    messages = lane_messages(config, history)
    lane.put("start", prompt=messages)
    chat = lane.registry.chat(entry)
    with _server_slot(lane) as held:
        steps = chat.stream(messages, config.settings, cancel=lane.cancel, retry=config.retry) if held else ()
        for step in steps:
            if isinstance(step, Finished):
                timings, seed = lane.clock.timings(), config.settings.seed
                lane.put("done", finish_reason=step.reason, timings=timings, seed=seed, retries=step.retries)
                return
            lane.clock.tick()
            lane.put("token", token=step, timings=lane.clock.timings())
    # No `Finished`: the local worker saw the cancel switch first and closed the generator.
    reason = "cancelled" if lane.cancel.is_set() else "stop"
    lane.put("done", finish_reason=reason, timings=lane.clock.timings(), seed=config.settings.seed)


def _document(
    lane: _Lane, simulator: SimulatorProtocol, mask: Mask, history: list[HistoryTurn]
) -> tuple[str, list[HistoryTurn]]:
    """The document to continue and the history it stands for (old turns dropped to fit, with a notice)."""
    if lane.config.document is not None:
        return lane.config.document, history
    fitted = simulator.fit(mask, history, lane.config.settings.max_tokens)
    if fitted.dropped_turns:
        lane.put(
            "notice",
            notice=(
                f"The conversation is longer than {simulator.name}'s context ({simulator.n_ctx} tokens):"
                f" the {fitted.dropped_turns} oldest message(s) were left out; the mask's frame was kept."
            ),
        )
    return fitted.document, history[fitted.dropped_turns :]


def _run_simulator(lane: _Lane, entry: ModelEntry, history: list[HistoryTurn]) -> None:
    config, registry = lane.config, lane.registry
    simulator = registry.simulator(entry)
    mask = config.mask or RAW
    document, history = _document(lane, simulator, mask, history)
    contrasted = _contrasted(lane, simulator, document, history)
    lane.put("start", prompt=document, contrast_prompt=contrasted.b if contrasted else None)
    settings = _sampling(config, mask)
    for token in config.prefix:  # a branch's start, shown as it was
        lane.put("token", token=token, timings=lane.clock.timings())

    reply_prefix = "".join(t.text for t in config.prefix)
    wanted_cue = cue(mask, document) if config.metrics else ""
    if contrasted is not None:
        steps = contrast_lane(
            simulator,
            contrasted,
            settings,
            registry.worker,
            lane.cancel,
            lane_key=config.key,
            alternatives=config.alternatives,
            reply_prefix=reply_prefix,
            cue=wanted_cue,
        )
    else:
        steps = simulator.continue_lane(
            document,
            settings,
            lane,
            lane_key=config.key,
            alternatives=config.alternatives,
            reply_prefix=reply_prefix,
            cue=wanted_cue,
            steering=config.steering,
        )
    with _server_slot(lane) as held:
        tokens, finished = _stream(lane, steps) if held else ([], None)
        timings = lane.clock.timings()  # the reply's own timings: measuring it comes after
        reply = Measured(
            mask, history, document, [*config.prefix, *tokens], finished, config.key, contrasted=contrasted is not None
        )
        # A remote lane's metrics are requests to the same server (the cue, the mask effect): in the slot too.
        metrics = _metrics(lane, simulator, reply) if config.metrics and held else None
    reason = finished.reason if finished is not None else ("cancelled" if lane.cancel.is_set() else "stop")
    lane.put(
        "done",
        finish_reason=reason,
        timings=timings,
        seed=settings.seed,
        metrics=metrics,
        model_sha256=simulator.sha256,
        group=finished.group if finished is not None else None,
    )


def _contrasted(
    lane: _Lane, simulator: SimulatorProtocol, document: str, history: list[HistoryTurn]
) -> Documents | None:
    """A contrast lane's two documents: B's as recorded (replay, branch), or B's mask on the history A read."""
    contrast = lane.config.contrast
    if contrast is None:
        return None
    lane.leave_group()  # decoded on its own, never batched with samples
    other = contrast.document
    if other is None:
        other = simulator.fit(contrast.mask, history, lane.config.settings.max_tokens).document
    return Documents(a=document, b=other, gamma=contrast.gamma)


def _sampling(config: LaneConfig, mask: Mask) -> SamplingSettings:
    """The lane's settings with the mask's stop sequences and a seed drawn now (so even a cancelled reply
    reports it); a branch's reply keeps its length limit, the prefix included, with at least one new token."""
    return config.settings.model_copy(
        update={
            "stop": list(dict.fromkeys([*mask.stop_sequences(), *config.settings.stop])),
            "seed": config.settings.seed if config.settings.seed is not None else random.randrange(2**31),
            "max_tokens": max(1, config.settings.max_tokens - len(config.prefix)),
        }
    )


@contextmanager
def _server_slot(lane: _Lane) -> Iterator[bool]:
    """Holds one of the lane's server slots, if it has any, while the body streams; False if the lane or its
    run was stopped before a slot was free."""
    slots, retry = lane.config.slots, lane.config.retry
    if slots is None:
        yield True
        return
    with slots.held((lane.cancel, *(retry.also_stop if retry else ()))) as held:
        if held:
            lane.clock.started = time.perf_counter()  # the reply's times are the server's, not the run's queue
        else:  # its run was stopped first: the turn ends cancelled, as after Stop (an empty "stop" would count)
            lane.cancel.set()
        yield held


def _stream(lane: _Lane, steps: Iterator[Token | Finished]) -> tuple[list[Token], Finished | None]:
    """Pass the generated tokens on as events; the `Finished` is None if the worker stopped it first."""
    tokens: list[Token] = []
    for step in steps:
        if isinstance(step, Finished):
            return tokens, step
        lane.clock.tick()
        tokens.append(step)
        lane.put("token", token=step, timings=lane.clock.timings())
    return tokens, None


def _metrics(lane: _Lane, simulator: SimulatorProtocol, reply: Measured) -> FidelityMetrics | None:
    """The reply's metrics, measured where the simulator runs its jobs (local decodes on the local worker)."""
    try:
        # A cancelled turn ends the job at once (no item), and then only what needs no decode is reported.
        measuring = partial(measure, simulator, reply, mask_effect=lane.config.mask_effect)
        scored = _last(simulator.run_job(measuring, lane.registry.worker, lane.cancel))
    except SimulacraError as e:  # the reply itself is fine: say why its metrics are partial
        lane.put("notice", notice=f"Some mask-fidelity metrics could not be computed: {e}")
        scored = None
    return scored or _last(measure(simulator, reply, score=False))


def _last(steps: Iterator[FidelityMetrics | None]) -> FidelityMetrics | None:
    result = None
    for step in steps:
        result = step if step is not None else result
    return result


def _sample_groups(
    lanes: list[LaneConfig], histories: list[list[HistoryTurn]], registry: Registry, cancel: threading.Event
) -> dict[int, SampleGroup]:
    """Lanes alike in everything but their seed and context key (as `sample_configs` makes them) are samples of one
    base lane: a local simulator decodes them together (`Simulator.continue_samples`) in their `batch_rows` layout."""
    alike: dict[str, list[int]] = {}
    if len(lanes) == 1:  # alike only with itself (a run's server sample): no dump to compare
        alike[""] = [0]
    else:
        for index, (lane, history) in enumerate(zip(lanes, histories, strict=True)):
            alike.setdefault(_likeness(lane, history), []).append(index)
    groups: dict[int, SampleGroup] = {}
    for members in alike.values():
        if len(members) > 1 or lanes[members[0]].batch_rows > EXACT_ROWS:  # a lone fast sample too: see SampleGroup
            group = SampleGroup(members, registry.worker, cancel, lanes[members[0]].batch_rows)
            groups.update(dict.fromkeys(members, group))
    return groups


def _likeness(lane: LaneConfig, history: list[HistoryTurn]) -> str:
    return json.dumps(
        [
            lane.model,
            None if lane.mask is None else lane.mask.model_dump(mode="json"),
            lane.system_prompt,
            lane.settings.model_dump(mode="json", exclude={"seed"}),
            lane.alternatives,
            lane.document,
            [t.compact() for t in lane.prefix],
            lane.metrics,
            None if lane.contrast is None else [lane.contrast.mask.model_dump(mode="json"), lane.contrast.gamma],
            None if lane.steering is None else lane.steering.key,
            lane.batch_rows,
            [t.model_dump(mode="json") for t in history],
        ],
        sort_keys=True,
    )


def run_turn(
    lanes: list[LaneConfig],
    histories: list[list[HistoryTurn]],
    registry: Registry,
    *,
    cancel: threading.Event | None = None,
) -> Iterator[LaneEvent]:
    """Send the turn to every lane at once and yield their events as they happen.

    Each lane ends with exactly one `done` or `error` event. Closing the iterator cancels the turn.
    """
    cancel = cancel or threading.Event()
    out: queue.Queue[LaneEvent | None] = queue.Queue()
    started = time.perf_counter()
    groups = _sample_groups(lanes, histories, registry, cancel)
    threads = [
        threading.Thread(
            target=_run_lane,
            args=(_Lane(index, lane, registry, _Clock(started), cancel, out, groups.get(index)), history),
            name=f"simulacra-lane-{index}",
            daemon=True,
        )
        for index, (lane, history) in enumerate(zip(lanes, histories, strict=True))
    ]
    for thread in threads:
        thread.start()
    running = len(threads)
    try:
        while running:
            event = out.get()
            if event is None:
                running -= 1
                continue
            yield event
    finally:
        cancel.set()
