"""Chat models, all reached through litellm; the bundled SmolLM2 is a litellm custom provider (`local/...`)."""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from simulator.base import Finished, load_llama
from simulator.chat_pool import ChatPool
from simulator.credentials import NO_KEY, env_secrets, guarded_client, server_key
from simulator.errors import LaneError, LaneTimeout, ModelUnavailable, PromptTooLong, SimulacraError
from simulator.litellm_boot import litellm, register_provider
from simulator.retries import RATE_LIMITED, Retries, RetryPolicy, refusal_of
from simulator.values import FinishReason, SamplingSettings, Token
from simulator.watchdog import Timeouts, watched
from simulator.worker import LocalWorker

LOCAL_PROVIDER = "local"


class LocalChatModels:
    """GGUF chat models run in-process, behind litellm's custom-provider interface.

    Each request borrows a loaded copy of its model to itself (two lanes on one context would corrupt each
    other's KV cache), from a pool that bounds how many copies exist (`simulator.chat_pool`); generation runs on
    the shared local worker, interleaved with base lanes.
    """

    def __init__(self, worker: LocalWorker, *, n_ctx: int = 2048, n_threads: int | None = None) -> None:
        self.worker = worker
        self.n_ctx = n_ctx
        self.n_threads = n_threads  # None: fitted to the free cores (`simulator.threads`)
        self._paths: dict[str, Path] = {}
        self.copies: ChatPool[Any] = ChatPool(self._load, lambda llama: llama.close())

    def add(self, name: str, path: Path) -> str:
        """Register a GGUF chat model; returns its litellm model string."""
        self._paths[name] = path
        return f"{LOCAL_PROVIDER}/{name}"

    def names(self) -> list[str]:
        return sorted(self._paths)

    def _load(self, name: str) -> Any:
        path = self._paths.get(name)
        if path is None:
            raise ModelUnavailable(f"no local chat model named '{name}'; known: {', '.join(self.names())}")
        return load_llama(path, n_ctx=self.n_ctx, n_threads=self.n_threads)

    def warm(self, name: str) -> None:
        if (llama := self.copies.borrow(name)) is not None:
            self.copies.give_back(name, llama)

    def stream(
        self, name: str, messages: list[dict[str, str]], params: dict[str, Any]
    ) -> Iterator[tuple[str, str | None]]:
        """(text piece, finish reason or None) pairs of the reply; runs on the local worker."""
        cancel = threading.Event()

        def start() -> Iterator[tuple[str, str | None] | None]:
            while (llama := self.copies.borrow(name)) is None:
                yield None  # every copy is lent: let the worker run the replies that hold them meanwhile
            try:
                if params.get("seed") is not None:
                    llama.set_seed(int(params["seed"]))
                chunks = llama.create_chat_completion(
                    messages=messages,
                    stream=True,
                    temperature=float(params.get("temperature", 0.8)),
                    top_p=float(params.get("top_p", 0.95)),
                    max_tokens=int(params.get("max_tokens") or 256),
                    stop=params.get("stop") or None,
                    seed=params.get("seed"),
                )
                try:
                    for chunk in chunks:
                        choice = chunk["choices"][0]
                        piece = choice["delta"].get("content") or ""
                        if piece or choice.get("finish_reason"):
                            yield piece, choice.get("finish_reason")
                except ValueError as e:  # llama-cpp-python: "Requested tokens (N) exceed context window of M"
                    if "context window" not in str(e):
                        raise
                    raise PromptTooLong(
                        f"the prompt is too long for {name}: {e}."
                        " Shorten the message, lower max tokens, or pick a model with a larger context."
                    ) from e
            finally:
                self.copies.give_back(name, llama)

        try:
            yield from (item for item in self.worker.submit(start, cancel) if item is not None)
        finally:
            cancel.set()  # a reply closed early stops its job (and returns its copy) before its next step


def make_local_provider(models: LocalChatModels) -> Any:
    """A litellm CustomLLM whose `local/NAME` models are `models`."""
    litellm()  # sets the offline switches before any litellm module is imported
    from litellm.llms.custom_llm import CustomLLM

    class LocalProvider(CustomLLM):  # type: ignore[misc]
        def streaming(  # type: ignore[override]
            self, model: str, messages: list, *args: Any, **kwargs: Any
        ) -> Iterator[dict]:
            params = dict(kwargs.get("optional_params") or {})
            name = model.split("/", 1)[-1]
            finish_reason = "stop"
            for piece, reason in models.stream(name, messages, params):
                finish_reason = reason or finish_reason
                if piece:
                    yield _chunk(piece, finished=False, reason="")
            yield _chunk("", finished=True, reason=finish_reason)

    return LocalProvider()


def _chunk(text: str, *, finished: bool, reason: str) -> dict[str, Any]:
    """litellm's GenericStreamingChunk."""
    return {"text": text, "is_finished": finished, "finish_reason": reason, "index": 0, "tool_use": None, "usage": None}


def install_local_provider(models: LocalChatModels) -> None:
    register_provider(LOCAL_PROVIDER, make_local_provider(models))


class ChatModel:
    """A litellm model string that streams a chat reply as `Token`s. With `api_base` it talks to a server the
    user named, which is sent the key in `api_key_env` or no key at all; without, litellm reads the provider's
    own variable. Server lanes run within `timeouts`; the in-process `local/` models need none."""

    def __init__(
        self,
        model: str,
        *,
        api_base: str | None = None,
        api_key_env: str | None = None,
        timeouts: Timeouts | None = None,
    ) -> None:
        self.model = model
        self.api_base = api_base
        self.api_key_env = api_key_env
        self.timeouts = timeouts or Timeouts()

    @property
    def is_local(self) -> bool:
        return self.model.startswith(f"{LOCAL_PROVIDER}/")

    def missing_keys(self) -> list[str]:
        """The environment variables this model's provider needs and does not find (never their values).

        Raises:
            LaneError: litellm cannot tell, e.g. for a model string it cannot parse.
        """
        if self.is_local:
            return []
        if self.api_base:
            return [self.api_key_env] if self.api_key_env and not os.environ.get(self.api_key_env) else []
        try:
            report = litellm().validate_environment(model=self.model)
        except Exception as e:  # noqa: BLE001 - litellm raises its own types for strings it cannot parse
            raise LaneError(f"{self.model}: cannot check its API key ({type(e).__name__})") from e
        return [str(name) for name in report.get("missing_keys") or []]

    def check(self) -> None:
        """Fail early, with the variable to set, when a key the model needs is missing.

        Raises:
            LaneError: an API key the provider (or the server's config) needs is not in the environment or .env.
        """
        missing = self.missing_keys()
        if missing:
            raise LaneError(
                f"{self.model}: no API key. Set {' and '.join(missing)} in the environment or in .env"
                " (keys are never stored by Simulacra)."
            )

    def stream(
        self,
        messages: list[dict[str, str]],
        settings: SamplingSettings,
        *,
        cancel: threading.Event | None = None,
        retry: RetryPolicy | None = None,
    ) -> Iterator[Token | Finished]:
        """Stream the reply as `Token`s (no probabilities: chat APIs do not share them), then `Finished`, which
        counts the retries made. With `retry` (experiment samples only), a server's 429 or 5xx before anything of
        the reply has streamed is retried as the policy allows; without, the first refusal is the lane's error.

        Raises:
            LaneError: the key is missing, the server cannot be reached, answers with an error (after the
                retries `retry` allows) or closes the connection mid-reply.
            LaneTimeout: the server gave no first token, or stopped giving tokens, within `timeouts`.
        """
        self.check()
        retries = Retries(None if self.is_local else retry)
        reason: FinishReason | None = None
        while cancel is None or not cancel.is_set():
            replied = False
            try:
                for chunk in self._chunks(self._request(messages, settings), cancel):
                    choice = chunk.choices[0]
                    piece = getattr(choice.delta, "content", None) or ""
                    if piece:
                        replied = True
                        yield Token(text=piece)
                    if choice.finish_reason:
                        reason = "length" if choice.finish_reason == "length" else "stop"
                break
            except LaneTimeout as e:
                raise LaneTimeout(f"{self.model}: {e}") from None
            except LaneError:
                raise
            except Exception as e:  # litellm maps every provider's failures onto its own exception types
                # litellm wraps what our own `local/` provider raises (e.g. PromptTooLong); its message is ours.
                ours = next((c for c in _causes(e) if isinstance(c, SimulacraError)), None)
                if ours is not None:
                    raise ours from None
                if not replied and retries.wait(refusal_of(e, _causes(e)), cancel):
                    continue  # nothing of the reply was shown: ask again, as the server said or later
                said = describe_litellm_error(self.model, self.api_base, e, mid_reply=replied)
                raise LaneError(f"{said} ({retries.gave_up})" if retries.gave_up else said) from e
        if reason is None:  # the stream ended without saying why: stopped by the user, or the server just ended
            reason = "cancelled" if cancel is not None and cancel.is_set() else "stop"
        yield Finished(reason=reason, seed=settings.seed if settings.seed is not None else -1, retries=retries.count)

    def _request(self, messages: list[dict[str, str]], settings: SamplingSettings) -> dict[str, Any]:
        """litellm's arguments. Retries are off (litellm's and the OpenAI client's, which retries twice by
        default): a retried stream would hold a lane three times its limits."""
        kwargs: dict[str, Any] = {
            "model": self.model,
            "messages": messages,
            "stream": True,
            "temperature": settings.temperature,
            "top_p": settings.top_p,
            "max_tokens": settings.max_tokens,
            "timeout": self.timeouts.http(),
            "num_retries": 0,
            "max_retries": 0,
        }
        if settings.seed is not None:
            kwargs["seed"] = settings.seed
        if settings.stop:
            kwargs["stop"] = settings.stop
        if self.api_base:
            key = server_key(self.model, self.api_key_env)
            kwargs["api_base"] = self.api_base
            kwargs["api_key"] = key or NO_KEY
            kwargs["client"] = guarded_client(self.api_base, key, self.timeouts.http())
        return kwargs

    def _chunks(self, kwargs: dict[str, Any], cancel: threading.Event | None) -> Iterator[Any]:
        """litellm's chunks; a server's within the lane's time limits, until `cancel` is set."""
        module = litellm()
        if self.is_local:  # in-process, on the local worker: no server to stall
            for chunk in module.completion(**kwargs):
                if cancel is not None and cancel.is_set():
                    return
                yield chunk
            return
        client = kwargs.get("client")
        try:
            yield from watched(lambda: module.completion(**kwargs), _is_token, self.timeouts, cancel=cancel)
        finally:
            if client is not None:  # also frees a reading thread the lane gave up on
                client.close()


def _is_token(chunk: Any) -> bool:
    choices = getattr(chunk, "choices", None) or []
    return bool(choices) and bool(getattr(choices[0].delta, "content", None) or choices[0].finish_reason)


def describe_litellm_error(model: str, api_base: str | None, error: Exception, *, mid_reply: bool = False) -> str:
    """One line for the user, in the app's words where the cause is known; never a key."""
    kind = type(error).__name__
    detail = scrub_secrets(str(error)).strip().splitlines()[0][:300] if str(error).strip() else kind
    where = f" at {api_base}" if api_base else ""
    # litellm reports a refused connection as InternalServerError, and uses APIConnectionError for any
    # failure it cannot classify: only the network errors underneath say what really happened.
    causes = _causes(error)
    if any(type(c).__name__ == "ConnectTimeout" for c in causes):
        return f"{model}: cannot reach the server{where}: it did not accept the connection in time. Is it running?"
    if kind == "Timeout" or any(isinstance(c, TimeoutError) or "Timeout" in type(c).__name__ for c in causes):
        return f"{model}: no answer{where} in time ({detail})"
    if mid_reply and any(_hung_up(c) for c in causes):
        return f"{model}: the server closed the connection mid-reply; the reply so far is saved"
    network = [c for c in causes if isinstance(c, ConnectionError) or type(c).__name__ in _NETWORK_ERRORS]
    if network:
        reason = scrub_secrets(str(network[-1])).strip()[:300] or type(network[-1]).__name__
        return f"{model}: cannot reach the server{where} ({reason}). Is it running?"
    if kind == "AuthenticationError":
        return f"{model}: the API key was refused ({detail})"
    if kind == "NotFoundError":
        return f"{model}: the provider does not know this model ({detail})"
    refused = refusal_of(error, causes)
    if refused is not None:  # a 429 or 5xx: "not now", in the server's own words
        who = f"the server{where}" if api_base else "the provider"
        asked = "" if refused.retry_after_s is None else f"; it asks to wait {refused.retry_after_s:.0f} s"
        said = _LITELLM_PREFIX.sub("", detail)
        if refused.status == RATE_LIMITED:
            return f"{model}: rate limited by {who} ({said}){asked}"
        return f"{model}: {who} failed with HTTP {refused.status} ({said}){asked}"
    return f"{model}: {kind}: {detail}"


# How litellm opens a server's error message: "litellm.RateLimitError: RateLimitError: OpenAIException - ".
_LITELLM_PREFIX = re.compile(r"^litellm\.\w+:\s*(\w+:\s*)?(\w+Exception\s*-\s*)?")


# httpx's and requests' names for "could not connect" (neither subclasses the built-in ConnectionError).
_NETWORK_ERRORS = {"ConnectError", "ConnectionError"}
# What a stream that loses its server mid-reply raises, by layer: httpx (the body ended early or the socket
# failed), the OpenAI client ("Connection error") and litellm, which wraps any mid-stream failure.
_HUNG_UP = {"RemoteProtocolError", "ReadError", "APIConnectionError", "MidStreamFallbackError"}


def _hung_up(error: BaseException) -> bool:
    return isinstance(error, ConnectionError) or type(error).__name__ in _HUNG_UP


def _causes(error: BaseException) -> list[BaseException]:
    """The error and everything it was raised from or while handling, outermost first."""
    chain: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and all(current is not seen for seen in chain):
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


_KEY_LIKE = re.compile(r"(sk-[A-Za-z0-9_-]{8,}|sk-ant-[A-Za-z0-9_-]{8,})")


def scrub_secrets(text: str) -> str:
    """Remove API keys from an error message before it is shown or stored."""
    for value in env_secrets():
        text = text.replace(value, "***")
    return _KEY_LIKE.sub("***", text)
