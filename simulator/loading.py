"""Opening llama.cpp's native objects (weights, contexts, samplers) with the settings this app depends on.

Kept apart from `simulator.base` so the generation code reads without llama.cpp's parameter plumbing.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING

from simulator.contexts import BATCH, Context
from simulator.errors import ModelUnavailable
from simulator.logs import route_llama_logs
from simulator.threads import FREE
from simulator.values import SamplingSettings

if TYPE_CHECKING:
    from llama_cpp import Llama
    from llama_cpp import _internals as internals

# Routed when the loaders are imported, not when one of them runs: simulator.base also opens a
# vocabulary-only `Llama` itself, often before the first context, and llama.cpp logs from that load on.
route_llama_logs()

# llama-cpp-python points stdout and stderr (the file descriptors and sys.stdout/sys.stderr) at /dev/null
# while it loads with verbose=False, and puts back what it found. Two loads that overlap on different threads
# (a base and a chat lane answering their first turn) restore each other's /dev/null, and the process never
# prints again. So every load that can redirect goes through this lock.
_REDIRECTING_LOAD = threading.Lock()


def load_llama(path: Path, *, n_ctx: int, n_threads: int | None) -> Llama:
    """Open a GGUF file with llama-cpp-python's high-level `Llama` (the local chat models use it), one that reads
    every prompt the same way so that seeds repeat (see simulator.chat_llama). With `n_threads` None, each decode
    runs with the cores free at the time (`simulator.threads`).

    Raises:
        ModelUnavailable: the file is missing or llama.cpp cannot load it.
    """
    if not path.exists():
        raise ModelUnavailable(f"model file not found: {path}")
    from simulator.chat_llama import RepeatableLlama

    threads = n_threads or FREE.count()
    try:
        with _REDIRECTING_LOAD:
            llama = RepeatableLlama(
                model_path=str(path),
                n_ctx=n_ctx,
                n_threads=threads,
                n_threads_batch=threads,
                n_batch=512,
                verbose=False,
            )
    except (ValueError, RuntimeError) as e:
        raise ModelUnavailable(f"llama.cpp could not load {path.name}: {e}") from e
    llama.fixed_threads, llama.applied_threads = n_threads, threads
    return llama


def load_vocabulary(path: Path) -> Llama:
    """A vocabulary-only load for tokenizing: safe to use while contexts decode on another thread."""
    from llama_cpp import Llama

    with _REDIRECTING_LOAD:
        return Llama(model_path=str(path), vocab_only=True, verbose=False)


def load_model(path: Path) -> internals.LlamaModel:
    """Load the weights once (mmap'd); every context of a simulator shares them.

    Raises:
        ModelUnavailable: the file is missing or llama.cpp cannot load it.
    """
    if not path.exists():
        raise ModelUnavailable(f"model file not found: {path}")
    import llama_cpp
    from llama_cpp import _internals as internals

    llama_cpp.llama_backend_init()
    params = llama_cpp.llama_model_default_params()
    params.n_gpu_layers = 0
    # mmap, as llama-cpp-python's `Llama` loads: the default (auto) ran single-token decodes 4x slower for
    # the first ten seconds after loading (measured).
    params.load_mode = llama_cpp.LLAMA_LOAD_MODE_MMAP
    try:
        with _REDIRECTING_LOAD:
            return internals.LlamaModel(path_model=str(path), params=params, verbose=False)
    except ValueError as e:
        raise ModelUnavailable(f"llama.cpp could not load {path.name}: {e}") from e


def new_context(
    model: internals.LlamaModel,
    path: Path,
    *,
    n_ctx: int,
    n_threads: int | None,
    key: str,
    sequences: int = 1,
    eval_callback: object = None,
) -> Context:
    """A fresh context over the shared `model` (loaded from `path`, named in errors). With `sequences` > 1,
    each sequence gets a KV stream of its own of `n_ctx` cells (see `simulator.batch` for why not a shared one).
    `eval_callback` (a `ggml_backend_sched_eval_callback`) sees every tensor the context computes
    (`simulator.activations`); lanes never have one. With `n_threads` None, each decode runs with the cores free
    at the time (`simulator.threads`).

    Raises:
        ModelUnavailable: llama.cpp cannot create the context.
    """
    import llama_cpp
    from llama_cpp import _internals as internals

    params = llama_cpp.llama_context_default_params()
    params.n_ctx = n_ctx * sequences
    params.n_seq_max = sequences
    params.kv_unified = False  # llama.cpp's default: one KV stream per sequence
    params.n_batch = params.n_ubatch = BATCH
    threads = n_threads or FREE.count()
    params.n_threads = params.n_threads_batch = threads
    params.flash_attn_type = llama_cpp.LLAMA_FLASH_ATTN_TYPE_DISABLED
    if eval_callback is not None:
        params.cb_eval = eval_callback
        params.cb_eval_user_data = None
    params.no_perf = False  # keep llama.cpp's counters: tests read how many prompt tokens were evaluated
    try:
        native = internals.LlamaContext(model=model, params=params, verbose=False)
    except ValueError as e:
        raise ModelUnavailable(f"llama.cpp could not create a context for {path.name}: {e}") from e
    batch = internals.LlamaBatch(n_tokens=BATCH, embd=0, n_seq_max=1, verbose=False)
    return Context(
        native=native,
        batch=batch,
        n_vocab=model.n_vocab(),
        key=key,
        sequences=sequences,
        cells=n_ctx,
        threads=n_threads,
        applied=threads,
    )


def new_sampler(settings: SamplingSettings, seed: int) -> internals.LlamaSampler:
    """The same chain llama-cpp-python builds (its no-op stages left out), seeded afresh for every reply."""
    from llama_cpp import _internals as internals

    sampler = internals.LlamaSampler()
    if settings.temperature <= 0:
        sampler.add_greedy()
        return sampler
    sampler.add_top_k(settings.top_k)
    sampler.add_top_p(settings.top_p, 1)
    sampler.add_temp(settings.temperature)
    sampler.add_dist(seed)
    return sampler
