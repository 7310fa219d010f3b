"""Text-level helpers for streaming: whole UTF-8 characters only, and stop sequences never shown then taken back."""

from __future__ import annotations

from collections.abc import Iterator

from simulator.values import Alternative, Token


def decode_complete(data: bytes) -> str | None:
    """`data` as text, or None while it ends inside a character split across tokens."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        if e.reason == "unexpected end of data" and len(data) - e.start < 4:
            return None
        return data.decode("utf-8", errors="replace")


def find_stop(text: str, stops: list[str], search_from: int) -> tuple[int, str] | None:
    """Where the earliest stop sequence starts in `text` (from `search_from` on), and which one it is."""
    found = [(i, s) for s in stops if (i := text.find(s, search_from)) != -1]
    return min(found) if found else None


def stop_prefix_overlap(text: str, stops: list[str]) -> int:
    """How many trailing characters of `text` could be the start of a stop sequence."""
    best = 0
    for stop in stops:
        for n in range(min(len(stop) - 1, len(text)), best, -1):
            if text.endswith(stop[:n]):
                best = n
                break
    return best


def trim_to(held: list[Token], shown: int, cut: int) -> Iterator[Token]:
    """Yield the held tokens (which start at character `shown`) up to character `cut`, shortening the one
    the stop sequence begins in."""
    position = shown
    for token in held:
        if position >= cut:
            return
        end = position + len(token.text)
        if end <= cut:
            yield token
        else:
            yield token.model_copy(update={"text": token.text[: cut - position]})
        position = end


class StopWriter:
    """The reply's text so far, and the tokens held back while they might begin a stop sequence."""

    def __init__(self, stops: list[str], prefix: str) -> None:
        self.stops = stops
        self.longest = max((len(s) for s in stops), default=0)
        self.text = prefix  # a branch's start counts: a stop sequence may begin in it
        self.shown = len(prefix)  # characters of `text` already handed out
        self.held: list[Token] = []
        self.pending = b""  # bytes of a character split across tokens
        self.stopped: str | None = None

    def add(
        self,
        piece: bytes,
        p: float | None,
        top: list[Alternative],
        entropy: float | None = None,
        *,
        bound: bool = False,
    ) -> list[Token]:
        """Take one generated token (with its entropy, a lower `bound` when from a server's top-k); return the
        tokens that are now safe to show."""
        bound = bound and entropy is not None
        self.pending += piece
        text = decode_complete(self.pending)
        if text is None:  # a character split across tokens: wait for the rest
            self.held.append(Token(text="", p=p, top=top, entropy=entropy, entropy_bound=bound))
            return []
        self.pending = b""
        self.text += text
        self.held.append(Token(text=text, p=p, top=top, entropy=entropy, entropy_bound=bound))
        found = find_stop(self.text, self.stops, search_from=max(0, self.shown - self.longest))
        if found is not None:
            cut, self.stopped = found
            shown = list(trim_to(self.held, self.shown, cut))
            self.held = []
            return shown
        if stop_prefix_overlap(self.text, self.stops) == 0:
            self.shown = len(self.text)
            return self.flush()
        return []

    def flush(self) -> list[Token]:
        held, self.held = self.held, []
        return held
