"""Helpers the simulator tests share: a turn's events per lane, their tokens and text, and llama.cpp's count of
prompt tokens a lane's context read."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator

import llama_cpp

from simulator.base import Simulator
from simulator.events import LaneEvent
from simulator.values import Token


def collect(events: Iterator[LaneEvent], n_lanes: int, *, errors: bool = False) -> list[list[LaneEvent]]:
    """Events per lane, checking each lane ends with exactly one `done` or `error`, as its last event;
    unless `errors`, that last event must be `done`."""
    by_lane: dict[int, list[LaneEvent]] = defaultdict(list)
    for event in events:
        by_lane[event.lane_index].append(event)
    lanes = [by_lane[i] for i in range(n_lanes)]
    for events_of_lane in lanes:
        kinds = [event.kind for event in events_of_lane]
        assert kinds.count("done") + kinds.count("error") == 1 and kinds[-1] in ("done", "error"), kinds
        assert errors or kinds[-1] == "done", events_of_lane[-1].error
    return lanes


def tokens_of(events: Iterable[LaneEvent]) -> list[Token]:
    return [event.token for event in events if event.token is not None]


def text_of(tokens: Iterable[Token]) -> str:
    return "".join(token.text for token in tokens)


def prompt_tokens_read(base: Simulator, key: str, *, reset: bool = False) -> int:
    """llama.cpp's own count of prompt tokens the lane's context has decoded (no timing involved)."""
    with base.borrow(key) as context:
        read = int(llama_cpp.llama_perf_context(context.handle).n_p_eval)
        if reset:
            llama_cpp.llama_perf_context_reset(context.handle)
        return read
