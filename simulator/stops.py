"""Text-level helpers for streaming: whole UTF-8 characters only, and stop sequences never shown then taken back."""

from __future__ import annotations

from collections.abc import Iterator

from simulator.events import Token


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
