"""Surprise: at each token of a reply, how spread out the predictor's distribution was (its entropy) and how
unexpected the token it drew was (its surprisal, −ln p), both in nats; and where in a reply to look first.

A **fork** is a token where the distribution splits: its second likeliest token was at least FORK_RATIO (half) as
likely as its likeliest, so another sample could as well have gone the other way. A rule on the two top
probabilities rather than on the entropy, because a small base model's entropy is high almost everywhere in a
story (measured on gemma-3-270m: a median of 2.6 nats, 85% of tokens above ln 3) yet a tie at the top is rarer
(40% of a story's tokens, 3-5% of an assistant's answer), and because it reads the same from a server, whose
entropy is only a lower bound, and from rows saved before entropy was recorded. "Next fork" is the first fork
after the picked token (from the start when none is picked, around again past the last one); the **least likely
token** is the one with the largest surprisal.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from simulator.values import Token

FORK_RATIO = 0.5


@dataclass(frozen=True)
class Surprise:
    """A reply's per-token entropy and surprisal (None where a token has none: a chat lane, or a token saved
    before entropy was recorded); `bound` when the entropies are a server's lower bounds."""

    entropy: list[float | None]
    surprisal: list[float | None]
    bound: bool
    forks: list[int]

    @property
    def has_entropy(self) -> bool:
        return any(h is not None for h in self.entropy)

    def next_fork(self, after: int | None) -> int | None:
        """The first fork after token `after` (None: from the start), around again past the last; None without
        forks."""
        forks = self.forks
        if not forks:
            return None
        start = -1 if after is None else after
        return next((i for i in forks if i > start), forks[0])

    def least_likely(self) -> int | None:
        """The token with the largest surprisal (the first of equals); None when no token has a probability."""
        known = [(s, -i) for i, s in enumerate(self.surprisal) if s is not None]
        return -max(known)[1] if known else None

    def mean_entropy(self) -> float | None:
        known = [h for h in self.entropy if h is not None]
        return sum(known) / len(known) if known else None


def surprise_of(tokens: Sequence[Token]) -> Surprise:
    return Surprise(
        entropy=[t.entropy for t in tokens],
        surprisal=[t.surprisal for t in tokens],
        bound=any(t.entropy_bound for t in tokens),
        forks=[i for i, t in enumerate(tokens) if is_fork(t)],
    )


def is_fork(token: Token) -> bool:
    """The token's two likeliest alternatives were close: the second at least FORK_RATIO as likely as the first."""
    return len(token.top) >= 2 and token.top[1].p >= FORK_RATIO * token.top[0].p
