"""Everything a command prints passes through here. Titles, replies and notes come from models, imports and
other people: their control characters are dropped, so an imported title cannot retitle the terminal or clear
the screen. A stdout that cannot be written (a full disk, /dev/full) ends the command with one line."""

from __future__ import annotations

import errno
import io
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TextIO

import click

# C0 but tab and newline, DEL, and C1 (0x9b alone starts an escape sequence on some terminals). Stderr keeps
# the carriage return that redraws a progress line in place.
_CONTROL = [*range(0x00, 0x09), *range(0x0B, 0x20), *range(0x7F, 0xA0)]
_STDOUT = dict.fromkeys(_CONTROL)
_STDERR = dict.fromkeys(c for c in _CONTROL if c != ord("\r"))


class _StdoutFailed(Exception):
    """Writing to stdout failed; not an OSError, so a command's own `except OSError` cannot mistake it."""

    def __init__(self, error: OSError) -> None:
        super().__init__(error.strerror or str(error))


class _Printable(io.TextIOBase):
    """A text stream that drops control characters on their way to `stream`."""

    def __init__(self, stream: TextIO, table: dict[int, None], *, guarded: bool) -> None:
        self._stream, self._table, self._guarded = stream, table, guarded

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return self._stream.encoding

    @property
    def errors(self) -> str | None:  # type: ignore[override]
        return self._stream.errors

    def write(self, text: str) -> int:  # type: ignore[override]
        self._call(self._stream.write, text.translate(self._table))
        return len(text)

    def flush(self) -> None:
        self._call(self._stream.flush)

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return self._stream.isatty()

    def fileno(self) -> int:
        return self._stream.fileno()

    def close(self) -> None:
        """Leave the wrapped stream alone: it belongs to the process (or the test runner), which closes it."""

    def _call(self, method: Any, *args: Any) -> None:
        try:
            method(*args)
        except OSError as e:
            # A closed pipe (`| head`) is the reader's choice, which click already ends quietly.
            if not self._guarded or e.errno == errno.EPIPE:
                raise
            raise _StdoutFailed(e) from e


@contextmanager
def printable_output() -> Iterator[None]:
    """Run a command with its stdout and stderr filtered; a stdout write that fails is one line, exit 2."""
    out, err = sys.stdout, sys.stderr
    sys.stdout = _Printable(out, _STDOUT, guarded=True)  # type: ignore[assignment]
    sys.stderr = _Printable(err, _STDERR, guarded=False)  # type: ignore[assignment]
    try:
        yield
        sys.stdout.flush()
    except _StdoutFailed as e:
        sys.stdout, sys.stderr = out, err
        _silence(out)
        click.echo(f"error: cannot write the output to stdout: {e}", err=True)
        sys.exit(2)
    finally:
        sys.stdout, sys.stderr = out, err


def _silence(stream: TextIO) -> None:
    # What is still buffered would fail again when Python flushes stdout on exit, with a message of its own.
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, stream.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass  # no file descriptor (output captured in-process): nothing flushes it on exit
