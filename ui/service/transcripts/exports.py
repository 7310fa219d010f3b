"""Every export format by name. Most need only the stored conversation; OpenAI JSONL also needs what a chat
lane is sent before the conversation when a reply carries no stored prompt, and that takes the mask."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import ValidationError

from personas.mask import Mask
from simulator.turn import LaneConfig, lane_messages
from simulator.values import SamplingSettings
from storage import exports
from storage.imports import LaneRow

__all__ = ["DOWNLOADS", "FORMATS", "NO_PAIRS", "NO_RATINGS", "render"]

_NO_SETTINGS = SamplingSettings()  # the opening messages do not depend on sampling


def chat_opening(lane: LaneRow) -> list[dict[str, str]]:
    """The system prompt and a mask's example turns, by the same rule a chat lane is sent them."""
    try:
        mask = Mask.model_validate(lane.mask_snapshot) if lane.mask_snapshot else None
    except ValidationError:
        mask = None  # a snapshot no mask reads: then only the lane's own system prompt is known
    config = LaneConfig(
        label=lane.label, model=lane.model, mask=mask, settings=_NO_SETTINGS, system_prompt=lane.system_prompt
    )
    return lane_messages(config, [])


def to_jsonl(export: dict[str, Any]) -> str:
    """OpenAI chat fine-tuning format; see storage.exports.to_jsonl."""
    return exports.to_jsonl(export, chat_opening)


FORMATS: dict[str, Callable[[dict[str, Any]], str]] = {**exports.FORMATS, "jsonl": to_jsonl}

# format -> (button label, MIME type, what it holds); the file is conversation-<id>.<format>
DOWNLOADS = {
    "md": ("Markdown", "text/markdown", "Readable: lanes as sections, annotations inline."),
    "json": (
        "JSON",
        "application/json",
        "Everything, for `simulacra import`: lanes, masks, settings, every branch, tokens, annotations.",
    ),
    "jsonl": ("OpenAI JSONL", "application/jsonl", "OpenAI chat format: one line per lane and path."),
    "dpo": (
        "DPO pairs",
        "application/jsonl",
        "Preference pairs from replies to the same message rated differently (empty when there are none).",
    ),
}


# Why a dpo export is empty, one line each (the CLI prints it on stderr, the page under the download button).
_PAIR = "a pair is two replies to the same message (regenerated, or from two lanes) rated differently (−1, 0, +1)"
NO_RATINGS = f"no DPO pairs: no reply is rated yet; {_PAIR}"
NO_PAIRS = f"no DPO pairs: no two replies to the same message have different ratings and different text; {_PAIR}"


def render(data: list[dict[str, Any]], fmt: str, *, as_list: bool) -> str:
    """Exports in one format: json as one object (or a list with `as_list`), the line formats joined.

    No pairs (dpo) or no paths (jsonl) is an empty file, not one blank line that JSONL readers reject.
    """
    if fmt == "json":
        return exports.to_json(data if as_list else data[0])
    return "".join(part.rstrip("\n") + "\n" for item in data if (part := FORMATS[fmt](item)).strip())
