"""Mask-fidelity figures as badges under a reply and as averages in a lane's header.

A masked reply that stops where the user's speaker tag begins has ended its turn the way a transcript turn ends:
the model wrote the newline and "User:" that hand the turn back. That is the ordinary case (every reply of a
well-masked lane), so it reads as a plain ending, not as a warning that the reply "began the user's turn". It is
read from how the reply ended (`ended_by`), never from the stored `spoke_for_user` flag alone: an imported file
can carry a flag its own ending contradicts."""

from __future__ import annotations

from simulator.values import FidelityMetrics
from ui.service.read_models import SavedMessage, Turn

HANDED_BACK = "ended its turn at the user's tag"


def metric_badges(metrics: FidelityMetrics | None) -> str:
    """Mask-fidelity figures as Markdown badges: built only from numbers and our own words."""
    if metrics is None:
        return ""
    parts = []
    if metrics.in_character_p is not None:
        parts.append(f":violet-badge[in character {metrics.in_character_p:.2f}]")
    if _handed_back(metrics):
        parts.append(f":gray-badge[{HANDED_BACK}]")
    elif metrics.ended_by:
        parts.append(f":gray-badge[ended: {metrics.ended_by.replace('_', ' ')}]")
    if metrics.perplexity is not None:
        parts.append(f":gray-badge[perplexity {metrics.perplexity:.1f}]")
    if metrics.mask_effect is not None:
        parts.append(f":blue-badge[mask effect ×{metrics.mask_effect:.2f}]")
    elif metrics.mask_effect_unavailable:  # our own words, not the stored text (an import could put anything there)
        parts.append(":gray-badge[mask effect n/a: this server returns no prompt probabilities]")
    return " ".join(parts)


def lane_summary(turns: list[Turn[SavedMessage]], lane_id: int) -> str:
    """Per-lane averages of the mask-fidelity figures along the path, for the lane header."""
    metrics = [m for t in turns if lane_id in t.replies and (m := t.replies[lane_id].metrics) is not None]
    if not metrics:
        return ""
    parts = []
    in_character = [m.in_character_p for m in metrics if m.in_character_p is not None]
    if in_character:
        parts.append(f"in character {sum(in_character) / len(in_character):.2f} avg")
    # Counted only where it happened: a raw-mask lane has no speaker tags to stop on.
    if handed := sum(1 for m in metrics if _handed_back(m)):
        parts.append(f"{HANDED_BACK} {handed}/{len(metrics)}")
    effects = [m.mask_effect for m in metrics if m.mask_effect is not None]
    if effects:
        parts.append(f"mask effect ×{sum(effects) / len(effects):.2f} avg")
    return " · ".join(parts)


def _handed_back(metrics: FidelityMetrics) -> bool:
    """The reply stopped on the user's speaker tag."""
    return metrics.ended_by == "user_turn"
