"""Which pairs of saved replies a reviewer votes on, and in which order and arrangement: two replies to the same user
message (different lanes, or two samples of one), each pair once per reviewer, left and right drawn per pair
and reviewer by a hash, so `review next` and `review vote` agree without keeping state between them."""

from __future__ import annotations

import hashlib
from collections import defaultdict
from dataclasses import dataclass
from itertools import combinations

from storage.judgements import ReplyIdentity, pair_key
from ui.service.errors import ServiceError

__all__ = ["Source", "candidate_pairs", "parse_pair", "parse_source", "queue_key", "shown_order"]

SOURCE_KINDS = ("conversation", "tag", "lane", "run")


@dataclass(frozen=True)
class Source:
    """Where pairs come from: everything (kind None), a conversation, a tag, a lane label or an experiment run."""

    kind: str | None = None
    value: str = ""

    @property
    def number(self) -> int:
        return int(self.value)


def parse_source(text: str | None) -> Source:
    """`conversation:ID`, `tag:TAG`, `lane:LABEL` or `run:ID`; None or "" for every saved reply.

    Raises ServiceError saying what a source looks like.
    """
    if not text:
        return Source()
    kind, _, value = text.partition(":")
    value = value.strip()
    if kind not in SOURCE_KINDS or not value:
        raise ServiceError(f"source {text!r}: expected conversation:ID, tag:TAG, lane:LABEL or run:ID")
    if kind in ("conversation", "run") and not (value.isascii() and value.isdigit()):
        raise ServiceError(f"source {text!r}: {kind} takes a number, e.g. {kind}:3")
    return Source(kind, value)


def parse_pair(pair: str) -> tuple[int, int]:
    """The two message ids of a pair id `LOW-HIGH` (as `review next` prints it).

    Raises ServiceError for anything else.
    """
    low, _, high = pair.strip().partition("-")
    if not (low.isascii() and low.isdigit() and high.isascii() and high.isdigit()) or int(low) >= int(high):
        raise ServiceError(f"there is no pair {pair!r}: a pair id is two message ids, e.g. 12-15 (see review next)")
    return int(low), int(high)


def _digest(pair: str, reviewer: str, purpose: str) -> bytes:
    return hashlib.sha256(f"{purpose}\x00{pair}\x00{reviewer}".encode()).digest()


def shown_order(pair: str, reviewer: str) -> tuple[int, int]:
    """(left id, right id) as `reviewer` sees `pair`: a fair coin per pair and reviewer, the same every time."""
    low, high = parse_pair(pair)
    return (high, low) if _digest(pair, reviewer, "side")[0] & 1 else (low, high)


def queue_key(pair: str, reviewer: str) -> bytes:
    """Each reviewer meets the pairs in their own shuffled, stable order."""
    return _digest(pair, reviewer, "queue")


def candidate_pairs(replies: list[ReplyIdentity], lane: str | None = None) -> list[tuple[ReplyIdentity, ...]]:
    """Every two replies to the same user message, by pair id; with `lane`, only pairs with a reply of that lane
    label on at least one side."""
    by_parent: dict[int, list[ReplyIdentity]] = defaultdict(list)
    for reply in replies:
        by_parent[reply.parent_id].append(reply)
    pairs = []
    for siblings in by_parent.values():
        for first, second in combinations(sorted(siblings, key=lambda r: r.message_id), 2):
            if lane is None or lane in (first.label, second.label):
                pairs.append((first, second))
    return sorted(pairs, key=lambda p: (p[0].message_id, p[1].message_id))


def key_of(pair: tuple[ReplyIdentity, ...]) -> str:
    return pair_key(pair[0].message_id, pair[1].message_id)
