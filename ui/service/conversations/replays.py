"""What a replay found: the same reply again, or where it first went another way. A local model on the same file
repeats a seeded reply exactly; a server with prompt caching or batching may not, so the outcome names the token."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ReplayOutcome:
    source_id: int
    differs_at: int | None  # the first token that differs, or None: identical
    original: str = ""  # that token in the original reply, and in the replay ("" past either's end)
    replayed: str = ""

    def describe(self) -> str:
        if self.differs_at is None:
            return f"Replay of reply #{self.source_id}: identical."
        return (
            f"Replay of reply #{self.source_id}: the first token that differs is #{self.differs_at}:"
            f" {self.replayed!r} instead of {self.original!r}."
        )


def replay_outcome(source_id: int, original: list[str], replayed: list[str]) -> ReplayOutcome:
    """Compare two replies token by token (their texts, as the token view shows them)."""
    for index in range(max(len(original), len(replayed))):
        mine = original[index] if index < len(original) else ""
        theirs = replayed[index] if index < len(replayed) else ""
        if mine != theirs:
            return ReplayOutcome(source_id, index, mine, theirs)
    return ReplayOutcome(source_id, None)
