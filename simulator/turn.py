"""Run one turn across lanes: every lane streams its own events, and one failing lane never stops the others."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

from personas.mask import HistoryTurn, Mask
from simulator.base import Finished
from simulator.errors import SimulacraError
from simulator.events import FinishReason, LaneEvent, SamplingSettings, Timings, Token
from simulator.registry import Registry

RAW = Mask(name="raw", turn_format="{text}\n")


@dataclass(frozen=True)
class LaneConfig:
    """What one lane needs for a turn. `key` names its llama.cpp context (its KV cache)."""

    label: str
    model: str
    mask: Mask | None
    settings: SamplingSettings
    system_prompt: str | None = None
    key: str = "default"
    alternatives: int = 5


def lane_messages(lane: LaneConfig, history: list[HistoryTurn]) -> list[dict[str, str]]:
    """What a chat lane is sent: the mask as a system prompt (or the lane's own), then the history."""
    mask = lane.mask or RAW
    messages = mask.as_messages(history) if lane.mask is not None else RAW.as_messages(history)
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


def _run_lane(
    index: int,
    lane: LaneConfig,
    history: list[HistoryTurn],
    registry: Registry,
    started: float,
    cancel: threading.Event,
    out: queue.Queue[LaneEvent | None],
) -> None:
    clock = _Clock(started)
    try:
        entry = registry.resolve(lane.model)
        if entry.kind == "simulator":
            simulator = registry.simulator(entry)
            mask = lane.mask or RAW
            fitted = simulator.fit(mask, history, lane.settings.max_tokens)
            out.put(LaneEvent(index, "start", prompt=fitted.document))
            if fitted.dropped_turns:
                out.put(LaneEvent(index, "notice", notice=(
                    f"The conversation is longer than {simulator.name}'s context ({simulator.n_ctx} tokens):"
                    f" the {fitted.dropped_turns} oldest message(s) were left out; the mask's frame was kept."
                )))
            settings = lane.settings.model_copy(
                update={"stop": list(dict.fromkeys([*mask.stop_sequences(), *lane.settings.stop]))}
            )
            steps: Iterator[Token | Finished] = registry.worker.submit(
                lambda: simulator.continue_document(
                    fitted.document, settings, lane_key=lane.key, alternatives=lane.alternatives, cancel=cancel
                ),
                cancel,
            )
        else:
            chat = registry.chat(entry)
            messages = lane_messages(lane, history)
            out.put(LaneEvent(index, "start", prompt=messages))
            steps = chat.stream(messages, lane.settings, cancel=cancel)
        for step in steps:
            if isinstance(step, Finished):
                out.put(LaneEvent(index, "done", finish_reason=step.reason, timings=clock.timings()))
                return
            clock.tick()
            out.put(LaneEvent(index, "token", token=step, timings=clock.timings()))
        # No `Finished`: the local worker saw the cancel switch first and closed the generator.
        reason: FinishReason = "cancelled" if cancel.is_set() else "stop"
        out.put(LaneEvent(index, "done", finish_reason=reason, timings=clock.timings()))
    except SimulacraError as e:
        out.put(LaneEvent(index, "error", error=str(e), timings=clock.timings()))
    except Exception as e:  # noqa: BLE001 - any failure stays in its own lane, described for the user
        out.put(LaneEvent(index, "error", error=f"{lane.model}: {type(e).__name__}: {e}", timings=clock.timings()))
    finally:
        out.put(None)


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
    threads = [
        threading.Thread(
            target=_run_lane,
            args=(index, lane, history, registry, started, cancel, out),
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
