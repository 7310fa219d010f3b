"""Lane rows for storage tests written as flat dicts, the way the tests read best."""

from __future__ import annotations

from typing import Any

from simulator.values import SamplingSettings

SAMPLING_KEYS = ("temperature", "top_p", "top_k", "max_tokens", "seed", "stop")


def with_sampling_settings(lane: dict[str, Any]) -> dict[str, Any]:
    """repo.add_lane's arguments from a flat dict: the sampling keys gathered into one SamplingSettings."""
    rest = {k: v for k, v in lane.items() if k not in SAMPLING_KEYS}
    return {**rest, "settings": SamplingSettings(**{k: v for k, v in lane.items() if k in SAMPLING_KEYS})}
