"""Which models exist (bundled, user GGUF files, litellm strings); each is loaded once and shared."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from simulator.base import Simulator
from simulator.bundled import gemma_base_path, smollm2_chat_path
from simulator.chat import LOCAL_PROVIDER, ChatModel, LocalChatModels, install_local_provider
from simulator.errors import ModelUnavailable, SimulacraError
from simulator.identity import file_sha256
from simulator.litellm_boot import litellm
from simulator.protocol import SimulatorProtocol
from simulator.remote import RemoteSimulator
from simulator.remote_apis import RemoteApi, RemoteProbe
from simulator.threads import FREE
from simulator.watchdog import Timeouts
from simulator.worker import LocalWorker, shared_worker

BUNDLED_CHAT = f"{LOCAL_PROVIDER}/smollm2-135m-instruct"
# Requests a run keeps in flight on a server that neither says how many it serves at once nor is configured to.
DEFAULT_CONCURRENCY = 4
IN_PROCESS = "in-process"  # the queue every in-process model shares: the local worker


@dataclass(frozen=True)
class ModelEntry:
    """A model a lane can name. `path` for GGUF files, `litellm` for everything reached through litellm, `api` for
    a base model on an inference server at `api_base` (`model`: its name there, when it serves several);
    `api_key_env` names the variable holding the key for the server at `api_base` (none: no key is sent)."""

    name: str
    kind: Literal["simulator", "chat"]
    path: Callable[[], Path] | None = None
    litellm: str | None = None
    api_base: str | None = None
    description: str = ""
    api_key_env: str | None = None
    api: RemoteApi | None = None
    model: str | None = None
    max_concurrency: int | None = None  # requests a run keeps in flight on the server; None: ask it, or a default

    @property
    def is_remote_simulator(self) -> bool:
        return self.kind == "simulator" and self.api is not None

    @property
    def is_local(self) -> bool:
        return self.path is not None or (self.litellm or "").startswith(f"{LOCAL_PROVIDER}/")


@dataclass(frozen=True)
class ModelStatus:
    """What the Models page shows of one model. `key` is "not needed", "present", or the names of the missing
    environment variables (never a key's value); `context` is None when unknown, `threads` None for remote: the
    user's count, or how many cores it is fitted to now."""

    name: str
    kind: Literal["simulator", "chat"]
    source: str  # the model file, or the litellm string
    api_base: str | None
    context: int | None
    threads: str | None
    key: str
    description: str
    probe: str | None = None  # a remote simulator's probe: what the server said, or why it could not be asked


class Registry:
    """Resolves lane model names and hands out shared, lazily loaded model objects."""

    def __init__(
        self,
        *,
        n_ctx: int = 2048,
        n_threads: int | None = None,
        extra: list[ModelEntry] | None = None,
        worker: LocalWorker | None = None,
        timeouts: Timeouts | None = None,
    ) -> None:
        self.n_ctx = n_ctx
        self.n_threads = n_threads
        self.timeouts = timeouts or Timeouts()
        self.worker = worker or shared_worker()
        self.local_chat = LocalChatModels(self.worker, n_ctx=n_ctx, n_threads=n_threads)
        self.entries: dict[str, ModelEntry] = {}
        self._simulators: dict[str, Simulator] = {}
        self._remote: dict[str, RemoteSimulator] = {}
        self._lock = threading.Lock()
        self._provider_installed = False
        self.add(
            ModelEntry(
                name="base", kind="simulator", path=gemma_base_path, description="gemma-3-270m base model (bundled)"
            )
        )
        self.add(
            ModelEntry(
                name="chat",
                kind="chat",
                path=smollm2_chat_path,
                litellm=BUNDLED_CHAT,
                description="SmolLM2-135M-Instruct chat model (bundled)",
            )
        )
        for entry in extra or []:
            self.add(entry)

    def add(self, entry: ModelEntry) -> None:
        self.entries[entry.name] = entry
        if entry.kind == "chat" and entry.path is not None and entry.litellm:
            self.local_chat.add(entry.litellm.split("/", 1)[1], entry.path())

    def resolve(self, model: str) -> ModelEntry:
        """A registered name, or any litellm model string.

        Raises:
            ModelUnavailable: neither a registered name nor a model litellm knows how to reach.
        """
        if model in self.entries:
            return self.entries[model]
        for entry in self.entries.values():
            if entry.litellm == model:
                return entry
        if model.startswith(f"{LOCAL_PROVIDER}/"):
            raise self._unknown(model)
        try:
            litellm().get_llm_provider(model)
        except Exception as e:  # litellm raises its BadRequestError for an unknown provider
            raise self._unknown(model) from e
        return ModelEntry(name=model, kind="chat", litellm=model)

    def _unknown(self, model: str) -> ModelUnavailable:
        known = ", ".join(sorted(self.entries))
        return ModelUnavailable(
            f"unknown model '{model}': not one of {known}, and not a litellm model string"
            " such as openai/gpt-4o-mini or ollama/llama3"
        )

    def simulator(self, entry: ModelEntry) -> SimulatorProtocol:
        """The base model behind `entry`: in-process, or on its server."""
        return self.remote(entry) if entry.is_remote_simulator else self.local_simulator(entry)

    def local_simulator(self, entry: ModelEntry) -> Simulator:
        if entry.kind != "simulator" or entry.path is None:
            raise ModelUnavailable(f"{entry.name} is a chat model, not a simulator")
        with self._lock:
            simulator = self._simulators.get(entry.name)
            if simulator is None:
                simulator = Simulator(entry.path(), name=entry.name, n_ctx=self.n_ctx, n_threads=self.n_threads)
                self._simulators[entry.name] = simulator
            return simulator

    def remote(self, entry: ModelEntry) -> RemoteSimulator:
        """The one client of a remote simulator (it keeps what the server said when probed)."""
        if entry.api is None or entry.api_base is None:
            raise ModelUnavailable(f"{entry.name} is not a base model on a server")
        with self._lock:
            remote = self._remote.get(entry.name)
            if remote is None:
                remote = RemoteSimulator(
                    entry.name,
                    entry.api,
                    entry.api_base,
                    model=entry.model,
                    api_key_env=entry.api_key_env,
                    timeouts=self.timeouts,
                )
                self._remote[entry.name] = remote
            return remote

    def check(self, entry: ModelEntry) -> None:
        """Make sure a lane on `entry` can run before anything is saved: a remote simulator's server is probed
        on first use (later calls reuse what it said).

        Raises:
            ModelUnavailable: the server cannot be reached, does not speak its API, or does not serve the model.
        """
        if entry.is_remote_simulator:
            self.remote(entry).probe()

    def probe(self, entry: ModelEntry) -> RemoteProbe:
        """Ask a remote simulator's server again what it serves and returns.

        Raises:
            ModelUnavailable: as `check`, or `entry` is not a remote simulator.
        """
        return self.remote(entry).probe(again=True)

    def concurrency(self, entry: ModelEntry) -> tuple[str, int]:
        """Where a model's requests queue, and how many of them a run keeps in flight there. In-process models
        share the local worker, one batched group at a time. A server takes its configured `max_concurrency`, else
        the slots it reports when probed (llama-server), else DEFAULT_CONCURRENCY. Models on one server share
        its slots.

        Raises:
            ModelUnavailable: a remote simulator's server cannot be probed.
        """
        if entry.is_local:
            return IN_PROCESS, 1
        queue = entry.api_base or entry.litellm or entry.name
        if entry.max_concurrency is not None:
            return queue, entry.max_concurrency
        if entry.is_remote_simulator:
            return queue, self.remote(entry).probe().slots or DEFAULT_CONCURRENCY
        return queue, DEFAULT_CONCURRENCY

    def chat(self, entry: ModelEntry) -> ChatModel:
        if entry.litellm is None:
            raise ModelUnavailable(f"{entry.name} is a simulator, not a chat model")
        if entry.litellm.startswith(f"{LOCAL_PROVIDER}/"):
            with self._lock:
                if not self._provider_installed:
                    install_local_provider(self.local_chat)
                    self._provider_installed = True
        return ChatModel(entry.litellm, api_base=entry.api_base, api_key_env=entry.api_key_env, timeouts=self.timeouts)

    def model_sha256(self, model: ModelEntry | str) -> str:
        """The sha256 of a local model's file (computed once per file, then cached), recorded with every
        base-lane reply so a replay can tell whether it runs on the same weights.

        Raises:
            ModelUnavailable: the model is unknown, or reached through litellm with no file here.
        """
        entry = self.resolve(model) if isinstance(model, str) else model
        if entry.path is None:
            raise ModelUnavailable(f"{entry.name} has no local model file to identify")
        return file_sha256(entry.path())

    def status(self, entry: ModelEntry) -> ModelStatus:
        """The entry's file or litellm string, context size, threads and API-key status; reads no weights."""
        return ModelStatus(
            name=entry.name,
            kind=entry.kind,
            source=_source(entry),
            api_base=entry.api_base,
            context=self._context(entry),
            threads=self._threads() if entry.is_local else None,
            key=_key_status(entry),
            description=entry.description,
            probe=self._probe_status(entry),
        )

    def _threads(self) -> str:
        if self.n_threads:
            return str(self.n_threads)
        return f"fitted: {FREE.count()} of {FREE.usable} cores free now"

    def _context(self, entry: ModelEntry) -> int | None:
        if entry.is_remote_simulator:
            return self.remote(entry).n_ctx
        return self.n_ctx if entry.is_local else _known_context(entry)

    def _probe_status(self, entry: ModelEntry) -> str | None:
        if not entry.is_remote_simulator:
            return None
        probed = self.remote(entry).probed
        return probed.summary() if probed else "not probed yet: it is asked on first use"

    def warm(self) -> None:
        """Load the bundled models now, so the first turn does not pay for it."""
        self.local_simulator(self.entries["base"]).warm(contexts=2)  # the default lanes have two base lanes
        self.chat(self.entries["chat"])
        self.local_chat.warm(BUNDLED_CHAT.split("/", 1)[1])
        self.model_sha256(self.entries["base"])  # about a second for 245 MB, the first time only

    def close(self) -> None:
        for simulator in self._simulators.values():
            simulator.close()


def _source(entry: ModelEntry) -> str:
    if entry.is_remote_simulator:
        return f"{entry.api} API" + (f", model {entry.model}" if entry.model else "")
    if entry.path is None:
        return entry.litellm or ""
    try:
        return str(entry.path())
    except SimulacraError as e:
        return f"missing: {e}"


def _known_context(entry: ModelEntry) -> int | None:
    """litellm's bundled price list (read offline) knows the context of well-known cloud models."""
    try:
        info = litellm().get_model_info(entry.litellm or entry.name)
    except Exception:  # noqa: BLE001 - unknown to litellm's list: nothing to show
        return None
    context = info.get("max_input_tokens")
    return int(context) if context else None


def _key_status(entry: ModelEntry) -> str:
    if entry.is_remote_simulator:
        if not entry.api_key_env:
            return "not needed"
        return "present" if os.environ.get(entry.api_key_env) else f"missing: {entry.api_key_env}"
    if entry.is_local or entry.litellm is None or (entry.api_base and not entry.api_key_env):
        return "not needed"
    try:
        missing = ChatModel(entry.litellm, api_base=entry.api_base, api_key_env=entry.api_key_env).missing_keys()
    except SimulacraError as e:
        return str(e)
    return "missing: " + ", ".join(missing) if missing else "present"
