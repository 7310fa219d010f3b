"""llama.cpp writes its log to stderr, and llama-cpp-python's own handler reads an older ggml's levels: it takes
each warning for an error and prints it even with verbose=False. This sends llama.cpp's log to Python logging
instead, as the "simulacra.llama" logger, so a front end decides what reaches the terminal (`--verbose`)."""

from __future__ import annotations

import ctypes
import logging
import threading
from typing import Any

LLAMA_LOGGER = "simulacra.llama"
logger = logging.getLogger(LLAMA_LOGGER)

# ggml.h's `enum ggml_log_level`, as the bundled library defines it (NONE = 0, CONT = 5 continues the last
# line). DEBUG (tensor by tensor) is dropped outright; INFO is loading chatter, shown only when debugging.
_LEVELS = {2: logging.DEBUG, 3: logging.WARNING, 4: logging.ERROR}
_CONTINUE = 5
_DROPPED = -1


class _Lines:
    """llama.cpp sends a line in pieces (a CONT piece carries on the previous one); log whole lines."""

    def __init__(self) -> None:
        self.lock = threading.Lock()  # contexts decode, and so log, on several threads
        self.level = _DROPPED
        self.pending = ""

    def add(self, ggml_level: int, text: bytes | None) -> None:
        with self.lock:
            lines: list[tuple[int, str]] = []
            if ggml_level != _CONTINUE:
                if self.pending.strip():  # a line left open (progress dots) ends where the next message starts
                    lines.append((self.level, self.pending))
                self.level, self.pending = _LEVELS.get(ggml_level, _DROPPED), ""
            if self.level != _DROPPED and logger.isEnabledFor(self.level):
                self.pending += (text or b"").decode("utf-8", errors="replace")
                if self.pending.endswith("\n"):
                    lines += [(self.level, line) for line in self.pending.splitlines()]
                    self.pending = ""
        for level, line in lines:
            if line.strip():
                logger.log(level, "%s", line.rstrip())


_lines = _Lines()
# llama.cpp keeps a bare pointer to the callback: the ctypes object must live as long as the process.
_callback: Any = None


def route_llama_logs() -> None:
    """Send llama.cpp's log to the "simulacra.llama" logger from now on. Call before loading a model; idempotent."""
    global _callback
    if _callback is not None:
        return
    import llama_cpp

    # Importing llama_cpp installs llama-cpp-python's own handler; this replaces it, so it must run after.
    def forward(level: int, text: bytes | None, _user_data: object) -> None:
        try:
            _lines.add(level, text)
        except Exception:
            pass  # an exception cannot cross back into C, and a lost log line is harmless

    _callback = llama_cpp.llama_log_callback(forward)
    llama_cpp.llama_log_set(_callback, ctypes.c_void_p(0))
