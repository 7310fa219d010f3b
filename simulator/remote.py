"""A base model on an inference server: the mask is rendered here and the document sent as a text completion.

It is a `simulator.protocol.SimulatorProtocol`, as the in-process `simulator.base.Simulator` is, so token view,
branches, samples, replay and the fidelity metrics work the same wherever the server allows.
Stop sequences are applied here, as for a local lane (the server is not told them), so a reply never shows a
stop sequence and the lane knows which one ended it; the stream is closed at the stop and the server stops.
"""

from __future__ import annotations

import math
import random
import threading
from collections import OrderedDict
from collections.abc import Callable, Generator, Iterator
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

from personas.mask import HistoryTurn, Mask
from simulator.errors import LaneError, LaneTimeout, ModelUnavailable
from simulator.protocol import Finished, FittedDocument, LaneSeat, Scored
from simulator.remote_apis import (
    RemoteApi,
    RemoteChunk,
    RemoteProbe,
    RemoteToken,
    ServerAnswer,
    llama_server_body,
    llama_server_chunk,
    ollama_body,
    ollama_chunk,
    ollama_models,
    openai_body,
    openai_chunk,
    openai_models,
    openai_tokens,
)
from simulator.remote_http import RemoteFailure, RemoteHttp, describe_http_error
from simulator.steering import STEER_A_SERVER, ControlVector, SteeringRefused
from simulator.stops import StopWriter
from simulator.tree import ServerTrees
from simulator.values import FinishReason, SamplingSettings, Token
from simulator.watchdog import Timeouts, watched

if TYPE_CHECKING:
    from simulator.worker import LocalWorker

T = TypeVar("T")

NO_PROMPT_PROBABILITIES = "n/a: this server returns no prompt probabilities"
NO_TOKEN_PROBABILITIES = (
    "this server returns no token probabilities, so the reply streams as text only: no token view, branches"
    " from a token or fidelity figures for it"
)
CUES_KEPT = 256  # documents whose cue probability is kept (a run's cells)
_PROBE_TOP_K = 20  # vLLM's and Ollama's default ceiling
_PROBE_PROMPT = "The capital of France is"


class NoPromptProbabilities(LaneError):
    """The server cannot score a given text (no `echo` with logprobs): the mask effect is not available."""


class RemoteSimulator(ServerTrees):
    """One model on one server, reached through `api`."""

    def __init__(
        self,
        name: str,
        api: RemoteApi,
        api_base: str,
        *,
        model: str | None = None,
        api_key_env: str | None = None,
        timeouts: Timeouts | None = None,
    ) -> None:
        self.name = name
        self.api = api
        self.model = model
        self.timeouts = timeouts or Timeouts()
        self.http = RemoteHttp(name, api_base, api_key_env=api_key_env, timeouts=self.timeouts)
        self._probe: RemoteProbe | None = None
        self._lock = threading.Lock()
        # A cue's probability depends on the document alone, the same for every seed of a run's cell: asked once.
        self._cues: OrderedDict[tuple[str, str], float | None] = OrderedDict()

    @property
    def n_ctx(self) -> int | None:
        return self._probe.context if self._probe else None

    @property
    def sha256(self) -> None:
        """A server's weights are not here to hash."""
        return None

    # -- probing -----------------------------------------------------------------------------------------

    def probe(self, *, again: bool = False) -> RemoteProbe:
        """The server's model, whether it returns logprobs and how many alternatives; asked once, then kept.

        Raises:
            ModelUnavailable: the server cannot be reached, does not speak `api`, or does not serve the model.
        """
        with self._lock:
            if self._probe is None or again:
                self._cues.clear()  # the server may serve another model now
                try:
                    self._probe = self._ask_server()
                except LaneError as e:
                    raise ModelUnavailable(str(e)) from None
                except ServerAnswer as e:
                    raise ModelUnavailable(f"{self.name}: the server at {self.http.api_base}: {e}") from None
                except Exception as e:  # noqa: BLE001 - whatever else an odd answer breaks is the server's to fix
                    raise ModelUnavailable(
                        f"{self.name}: the server at {self.http.api_base} answered the probe in a shape {self.api}"
                        f" does not have ({type(e).__name__}: {str(e)[:200]}); is `api` right for this server?"
                    ) from e
            return self._probe

    @property
    def probed(self) -> RemoteProbe | None:
        return self._probe

    def _ask_server(self) -> RemoteProbe:
        served = self._served()
        model = self._pick(served)
        top_k = 0
        for k in (_PROBE_TOP_K, 5, 1):
            try:
                tokens = self._one_token(model, _PROBE_PROMPT, k)
            except RemoteFailure:
                continue  # a server with a lower ceiling refuses the larger top-k
            top_k = max((len(t.top) for t in tokens if t.p is not None), default=0)
            if tokens and tokens[0].p is not None:
                break
        else:
            tokens = self._one_token(model, _PROBE_PROMPT, 0)  # no logprobs at all: text still streams
        logprobs = bool(tokens) and tokens[0].p is not None
        context, slots = self._context_and_slots()
        return RemoteProbe(model, tuple(served), logprobs, top_k, self._has_prompt_logprobs(model), context, slots)

    def _served(self) -> list[str]:
        try:
            if self.api == "ollama":
                return ollama_models(self.http.get_json("/api/tags"))
            return openai_models(self.http.get_json("/v1/models" if self.api == "llama-server" else "/models"))
        except ServerAnswer as e:
            raise RemoteFailure(f"{self.name}: the server at {self.http.api_base}: {e}") from None

    def _pick(self, served: list[str]) -> str:
        listed = ", ".join(served) or "nothing"
        if self.model is None:
            if len(served) == 1:
                return served[0]
            raise RemoteFailure(
                f"{self.name}: the server at {self.http.api_base} serves {listed}; name one as `model` in its"
                " [[models]] entry"
            )
        wanted = {self.model, f"{self.model}:latest"} if self.api == "ollama" else {self.model}
        for name in served:
            if name in wanted:
                return name
        raise RemoteFailure(
            f"{self.name}: the server at {self.http.api_base} does not serve the model '{self.model}';"
            f" it serves {listed}"
        )

    def _has_prompt_logprobs(self, model: str) -> bool:
        if self.api != "openai-completions":
            return False
        try:
            reply = self.http.text_completion(
                model, prompt=_PROBE_PROMPT, max_tokens=1, logprobs=1, echo=True, read=self.timeouts.total
            )
        except RemoteFailure:
            return False
        logprobs = (reply.get("choices") or [{}])[0].get("logprobs") or {}
        if not isinstance(logprobs, dict):
            return False  # a shape that cannot carry them: the one-token request names it
        return any(value is not None for value in (logprobs.get("token_logprobs") or [])[1:])

    def _context_and_slots(self) -> tuple[int | None, int | None]:
        """The server's context size and how many requests it serves at once, where it says."""
        try:
            if self.api == "llama-server":
                props = self.http.get_json("/props")
                slots = props.get("total_slots")
                context = int(props["default_generation_settings"]["n_ctx"])
                return context, int(slots) if isinstance(slots, int) and slots > 0 else None
            if self.api == "openai-completions":  # vLLM lists max_model_len with each model
                models = self.http.get_json("/models").get("data") or []
                lengths = [int(m["max_model_len"]) for m in models if m.get("max_model_len")]
                return (lengths[0] if lengths else None), None
        except (RemoteFailure, KeyError, TypeError, ValueError, AttributeError):
            return None, None
        return None, None

    # -- one-token requests --------------------------------------------------------------------------------

    def _one_token(
        self, model: str, prompt: str, k: int, *, read: float | None = None, cache: bool = False
    ) -> list[RemoteToken]:
        settings = SamplingSettings(max_tokens=1, temperature=0.0, top_k=0, seed=0)
        if self.api == "openai-completions":
            kwargs: dict[str, Any] = {"prompt": prompt, "max_tokens": 1, "temperature": 0.0}
            if k:
                kwargs["logprobs"] = k
            reply = self.http.text_completion(model, read=read, **kwargs)
            choice = (reply.get("choices") or [{}])[0]
            return openai_tokens(choice.get("logprobs"), k) or [RemoteToken(choice.get("text") or "", None, [])]
        if self.api == "llama-server":
            body = {**llama_server_body(prompt, settings, k, stream=False), "cache_prompt": cache}
            answer = self.http.post_json("/completion", body, read=read)
            chunk = llama_server_chunk(answer, k)
        else:
            body = ollama_body(model, prompt, settings, k, stream=False)
            answer = self.http.post_json("/api/generate", body, read=read)
            chunk = ollama_chunk(answer, k)
        if chunk.error:
            raise RemoteFailure(f"{self.name}: the server answered: {chunk.error}")
        return chunk.tokens

    def cue_probability(self, context: str, cue: str, *, key: str = "") -> Generator[None, None, float | None]:
        """P(the cue's first token | context), read from a one-token request's top-k; None when it is not
        among them. (The rest of a speaker tag such as `Ada:` is near certain once its first token is.)"""
        probe = self.probe()
        if not probe.logprobs:
            return None
        yield from ()  # a step-wise job like the local scoring: this one has no steps to yield between
        with self._lock:
            if (context, cue) in self._cues:
                return self._cues[(context, cue)]
        # Up to the lane's whole-reply limit, as the mask effect's request: on a busy server it waits behind
        # other lanes' replies, and the reply it measures is already saved.
        tokens = self._one_token(probe.model, context, probe.top_k, read=self.timeouts.total)
        candidates = [alt for alt in tokens[0].top if alt.text and cue.startswith(alt.text)] if tokens else []
        p = max(candidates, key=lambda alt: len(alt.text)).p if candidates else None
        with self._lock:
            self._cues[(context, cue)] = p
            while len(self._cues) > CUES_KEPT:
                self._cues.popitem(last=False)
        return p

    def scoring(self, context: str, continuation: str, *, key: str = "") -> Generator[None, None, list[float]]:
        """P(each token of `continuation` | `context`), from the prompt's own logprobs (`echo`).

        Raises:
            NoPromptProbabilities: the server returns no prompt probabilities.
        """
        return [math.exp(value) for _, value in (yield from self.token_logprobs(context, continuation))]

    def token_logprobs(self, context: str, text: str, *, key: str = "") -> Generator[None, None, list[Scored]]:
        """Each token of `text` after `context` and its log-probability, from the prompt's own logprobs (`echo`).

        Raises:
            NoPromptProbabilities: the server returns no prompt probabilities.
        """
        probe = self.probe()
        if not probe.prompt_logprobs:
            raise NoPromptProbabilities(NO_PROMPT_PROBABILITIES)
        yield from ()  # a step-wise job like the local scoring: this one has no steps to yield between
        # Up to the lane's whole-reply limit: llama_cpp.server sorts the vocabulary in Python for every prompt
        # token it echoes (about a second a token for gemma's 262k), where vLLM answers at once.
        reply = self.http.text_completion(
            probe.model,
            prompt=context + text,
            max_tokens=1,
            logprobs=1,
            echo=True,
            temperature=0.0,
            read=self.timeouts.total,
        )
        logprobs = (reply.get("choices") or [{}])[0].get("logprobs") or {}
        texts, offsets = logprobs.get("tokens") or [], logprobs.get("text_offset") or []
        values = logprobs.get("token_logprobs") or []
        scored: list[Scored] = []
        for piece, offset, value in zip(texts, offsets, values, strict=False):
            if offset + len(piece) > len(context) and offset < len(context) + len(text) and value is not None:
                scored.append((piece.encode("utf-8"), float(value)))
        return scored

    # -- documents and generation ------------------------------------------------------------------------

    def fit(self, mask: Mask, history: list[HistoryTurn], max_tokens: int) -> FittedDocument:
        """The whole rendered document: the server's tokenizer is not here to count it, and a server says
        itself when a prompt is too long."""
        return FittedDocument(document=mask.render(history), n_tokens=0, dropped_turns=0)

    def continue_document(
        self,
        document: str,
        settings: SamplingSettings,
        *,
        lane_key: str = "",
        alternatives: int = 5,
        cancel: threading.Event | None = None,
        reply_prefix: str = "",
        cue: str = "",
        steering: ControlVector | None = None,
    ) -> Iterator[Token | Finished]:
        """Stream the continuation of `document + reply_prefix` as `Simulator.continue_document` does.

        Raises:
            SteeringRefused: asked to steer (a server takes its control vector when it starts).
            ModelUnavailable: the first probe of the server failed. LaneError: it failed or hung up mid-reply.
            LaneTimeout: no first token, or a stall, within the lane's limits; the tokens so far were yielded.
        """
        if steering is not None:
            raise SteeringRefused(STEER_A_SERVER.format(name=self.name))
        seed = settings.seed if settings.seed is not None else random.randrange(2**31)
        path, body, parse = self._streaming(document + reply_prefix, settings, seed, alternatives)
        writer = StopWriter([s for s in settings.stop if s], reply_prefix)
        client = self.http.client()
        chunks = watched(lambda: self.http.stream(client, path, body, parse), _progress, self.timeouts, cancel=cancel)
        reason: FinishReason = "cancelled"  # unless the stream says how it ended
        replied = False
        try:
            for chunk in chunks:
                if chunk.error:
                    raise RemoteFailure(f"{self.name}: the server stopped with an error: {chunk.error}")
                for token in chunk.tokens:
                    replied = True
                    yield from writer.add(token.text.encode("utf-8"), token.p, token.top, token.entropy, bound=True)
                    if writer.stopped is not None:
                        break
                if writer.stopped is not None or chunk.finish:
                    reason = "length" if chunk.finish == "length" and writer.stopped is None else "stop"
                    break
            else:
                if cancel is None or not cancel.is_set():
                    reason = "stop"  # the server ended the stream without saying why
        except LaneTimeout as e:
            yield from writer.flush()
            raise LaneTimeout(f"{self.name}: {e}") from None
        except (LaneError, ServerAnswer) as e:
            yield from writer.flush()
            raise RemoteFailure(str(e) if isinstance(e, LaneError) else f"{self.name}: {e}") from None
        except Exception as e:  # noqa: BLE001 - httpx's errors, described for the user
            yield from writer.flush()
            raise RemoteFailure(describe_http_error(self.name, self.http.url(path), e, mid_reply=replied)) from e
        finally:
            # Hang up before the last item: the server stops generating only when it sees the connection close,
            # and the lane's next requests (its metrics) would otherwise queue behind a reply nobody reads.
            chunks.close()
            client.close()
        if writer.stopped is None:
            yield from writer.flush()
        yield Finished(reason=reason, seed=seed, stop=writer.stopped)

    def continue_lane(
        self,
        document: str,
        settings: SamplingSettings,
        seat: LaneSeat,
        *,
        lane_key: str,
        alternatives: int,
        reply_prefix: str,
        cue: str,
        steering: ControlVector | None = None,
    ) -> Iterator[Token | Finished]:
        """In the lane's own thread, which waits on the network: the local worker is for local decodes only, and a
        server's lane is never batched with the lane's other samples. A reply without probabilities is said so."""
        seat.leave_group()
        if not self.probe().logprobs:
            seat.notice(f"{self.name}: {NO_TOKEN_PROBABILITIES}")
        return self.continue_document(
            document,
            settings,
            lane_key=lane_key,
            alternatives=alternatives,
            cancel=seat.cancel,
            reply_prefix=reply_prefix,
            cue=cue,
            steering=steering,
        )

    def run_job(
        self, job: Callable[[], Iterator[T]], worker: LocalWorker, cancel: threading.Event | None = None
    ) -> Iterator[T]:
        """Here, in the caller's thread: its requests wait on the server and would only hold up the local worker."""
        return iter(()) if cancel is not None and cancel.is_set() else job()

    def _streaming(self, prompt: str, sampling: SamplingSettings, seed: int, alternatives: int) -> tuple[str, Any, Any]:
        """The path, body and chunk parser of a streamed completion on this server's API (stop sequences are
        applied here, not sent), with as many alternatives as asked and the server gives."""
        probe = self.probe()
        k = min(alternatives, probe.top_k) if probe.logprobs else 0
        settings, model = sampling.model_copy(update={"seed": seed, "stop": []}), probe.model
        if self.api == "openai-completions":
            return "/completions", openai_body(model, prompt, settings, k, stream=True), partial(openai_chunk, k=k)
        if self.api == "llama-server":
            body = llama_server_body(prompt, settings, k, stream=True)
            return "/completion", body, partial(llama_server_chunk, k=k)
        return "/api/generate", ollama_body(model, prompt, settings, k, stream=True), partial(ollama_chunk, k=k)


def _progress(chunk: RemoteChunk) -> bool:
    return bool(chunk.tokens) or chunk.finish is not None or chunk.error is not None
