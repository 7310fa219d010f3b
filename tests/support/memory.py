"""What holds memory in a test process, counted from the objects themselves (no timing, no RSS noise)."""

from __future__ import annotations

import gc

from llama_cpp import Llama


def loaded_chat_copies() -> int:
    """llama-cpp-python `Llama` objects in this process whose llama.cpp context is still open: the in-process chat
    model copies holding memory (about 160 MB each for the bundled SmolLM2). Copies nothing can reach any more are
    collected first: they are not held, merely not yet freed."""
    gc.collect()
    return sum(1 for o in gc.get_objects() if isinstance(o, Llama) and getattr(getattr(o, "_ctx", None), "ctx", None))
