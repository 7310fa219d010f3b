"""The three inference-server APIs a remote base lane speaks, as plain request bodies and parsed replies.

Each server reports token probabilities in its own shape:
- `openai-completions` (vLLM, `python -m llama_cpp.server`): `/v1/completions` with `logprobs=N` returns the
  legacy shape, `tokens`, `token_logprobs` and `top_logprobs` (a dict of text to logprob per token);
  `echo=true` adds the prompt's tokens with theirs.
- `llama-server` (llama.cpp's own server): the native `/completion` takes `n_probs` and answers each token with
  `completion_probabilities`: `{token, logprob, top_logprobs: [{token, logprob}]}`. Its `/v1/completions` uses
  the chat-style `content` shape instead, so the native endpoint is used. It returns no prompt probabilities.
- `ollama`: `/api/generate` with `raw: true`, `logprobs` and `top_logprobs` streams NDJSON lines whose `logprobs`
  is a list of `{token, logprob, top_logprobs}`; its `/v1/completions` drops logprobs. No prompt probabilities.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any, Literal

from simulator.values import Alternative, SamplingSettings

RemoteApi = Literal["openai-completions", "llama-server", "ollama"]


@dataclass(frozen=True)
class RemoteProbe:
    """What a server said about itself on first use."""

    model: str
    served: tuple[str, ...]
    logprobs: bool
    top_k: int
    prompt_logprobs: bool
    context: int | None
    slots: int | None = None  # requests it serves at once, when it says (llama-server's /props total_slots)

    def summary(self) -> str:
        if not self.logprobs:
            probabilities = "no token probabilities (text only)"
        else:
            probabilities = f"token probabilities, top-{self.top_k}"
        prompt = "prompt probabilities" if self.prompt_logprobs else "no prompt probabilities"
        context = f", context {self.context}" if self.context else ""
        slots = f", {self.slots} slots" if self.slots else ""
        return f"serves {self.model}: {probabilities}, {prompt}{context}{slots}"


@dataclass(frozen=True)
class RemoteToken:
    text: str
    p: float | None
    top: list[Alternative]

    @property
    def entropy(self) -> float | None:
        """Only a lower bound: `entropy_lower_bound`."""
        return entropy_lower_bound(self)


@dataclass
class RemoteChunk:
    """What one line of a streamed reply carries: tokens, and why the reply ended if it did."""

    tokens: list[RemoteToken] = field(default_factory=list)
    finish: str | None = None
    error: str | None = None


class ServerAnswer(ValueError):
    """A reply that is not what the API documents: HTML, non-JSON, or JSON of another shape."""


def _p(logprob: Any) -> float | None:
    return None if logprob is None else math.exp(float(logprob))


def _alternatives(pairs: list[tuple[str, float]], k: int) -> list[Alternative]:
    best = sorted(pairs, key=lambda pair: pair[1], reverse=True)[:k]
    return [Alternative(text=text, p=math.exp(logprob)) for text, logprob in best]


def entropy_lower_bound(token: RemoteToken) -> float | None:
    """A lower bound on the entropy (nats) of the distribution `token` was drawn from, knowing only the top-k the
    server returned: their own −p·ln p, plus the mass left over, none of whose tokens is likelier than the k-th
    (so each of them adds at least −ln p_k per unit of mass). None without alternatives."""
    if token.p is None or not token.top:
        return None
    known = [a.p for a in token.top]
    floor = min(known)
    if all(a.text != token.text for a in token.top):
        known.append(token.p)  # the sampled token fell outside the top-k: its p is known too
    bound = -sum(q * math.log(q) for q in known if q > 0)
    rest = 1.0 - sum(known)
    if rest > 0 and floor > 0:
        bound -= rest * math.log(floor)
    return max(0.0, bound)


def sse_payload(line: str) -> str | None:
    """The data of one server-sent-events line (None for comments, blank lines, other fields and [DONE])."""
    if not line.startswith("data:"):
        return None
    data = line[5:].strip()
    return None if data in ("", "[DONE]") else data


def decode(text: str, where: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        snippet = " ".join(text.split())[:80]
        raise ServerAnswer(f"{where} answered with something that is not JSON: {snippet!r}") from None


# -- openai-completions --------------------------------------------------------------------------------------


def openai_body(model: str, prompt: str, settings: SamplingSettings, top_k: int, *, stream: bool) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": model,
        "prompt": prompt,
        "max_tokens": settings.max_tokens,
        "temperature": settings.temperature,
        "top_p": settings.top_p,
        "stream": stream,
        # llama_cpp.server penalises repeats by default (1.1), which a local lane does not; vLLM ignores it.
        "repeat_penalty": 1.0,
    }
    if settings.top_k:
        body["top_k"] = settings.top_k  # vLLM and llama_cpp.server take it beside the OpenAI fields
    if settings.seed is not None:
        body["seed"] = settings.seed
    if top_k > 0:
        body["logprobs"] = top_k
    return body


def openai_tokens(logprobs: Any, k: int, start: int = 0) -> list[RemoteToken]:
    """The legacy `logprobs` object as tokens, from index `start` on.

    Raises:
        ServerAnswer: `logprobs` is not an object (some servers and proxies answer a list).
    """
    if not logprobs:
        return []
    if not isinstance(logprobs, dict):
        raise ServerAnswer(
            f"its `logprobs` is a {type(logprobs).__name__}, not the OpenAI completions object"
            " ({'tokens': [...], 'token_logprobs': [...], 'top_logprobs': [...]})"
        )
    texts = logprobs.get("tokens") or []
    values = logprobs.get("token_logprobs") or []
    tops = logprobs.get("top_logprobs") or []
    out = []
    for i in range(start, len(texts)):
        top = tops[i] if i < len(tops) and isinstance(tops[i], dict) else {}
        value = values[i] if i < len(values) else None
        out.append(RemoteToken(str(texts[i]), _p(value), _alternatives(list(top.items()), k)))
    return out


def openai_chunk(data: Any, k: int) -> RemoteChunk:
    if not isinstance(data, dict):
        raise ServerAnswer(f"expected a completion chunk, got {type(data).__name__}")
    if "error" in data:
        return RemoteChunk(error=_error_text(data["error"]))
    choices = data.get("choices")
    if not isinstance(choices, list) or not choices:
        raise ServerAnswer("a completion chunk without choices: is this an OpenAI-compatible completions server?")
    choice = choices[0]
    tokens = openai_tokens(choice.get("logprobs"), k)
    text = choice.get("text") or ""
    if not tokens and text:  # the server sends no probabilities: the text still streams
        tokens = [RemoteToken(text, None, [])]
    return RemoteChunk(tokens=tokens, finish=choice.get("finish_reason"))


def openai_models(data: Any) -> list[str]:
    if not isinstance(data, dict) or not isinstance(data.get("data"), list):
        raise ServerAnswer("its model list is not in the OpenAI shape ({'data': [{'id': ...}]})")
    return [str(model.get("id")) for model in data["data"] if isinstance(model, dict) and model.get("id")]


# -- llama-server (native /completion) -----------------------------------------------------------------------


def llama_server_body(prompt: str, settings: SamplingSettings, top_k: int, *, stream: bool) -> dict[str, Any]:
    return {
        "prompt": prompt,
        "n_predict": settings.max_tokens,
        "temperature": settings.temperature,
        "top_p": settings.top_p,
        "top_k": settings.top_k,
        "seed": settings.seed if settings.seed is not None else -1,
        "n_probs": top_k,
        "repeat_penalty": 1.0,  # older llama-server versions default to 1.1; a local lane has no penalty
        "stream": stream,
        # Off, so a seed gives the same reply again (replay, experiments): with it on, llama-server evaluates only
        # the part of a prompt a slot has not cached, and the logits that changes turned seed 5 at T 0.9 into
        # another reply from its second token on (measured, llama-server 0c1e570 with the bundled gemma).
        "cache_prompt": False,
    }


def llama_server_tokens(items: Any, k: int) -> list[RemoteToken]:
    out = []
    for item in items if isinstance(items, list) else []:
        if "top_probs" in item:  # post_sampling_probs: probabilities instead of logprobs
            pairs = [(str(t.get("token", "")), math.log(max(float(t["prob"]), 1e-30))) for t in item["top_probs"]]
            out.append(RemoteToken(str(item.get("token", "")), float(item.get("prob", 0.0)), _alternatives(pairs, k)))
            continue
        pairs = [(str(t.get("token", "")), float(t["logprob"])) for t in item.get("top_logprobs") or []]
        out.append(RemoteToken(str(item.get("token", "")), _p(item.get("logprob")), _alternatives(pairs, k)))
    return out


def llama_server_chunk(data: Any, k: int) -> RemoteChunk:
    if not isinstance(data, dict):
        raise ServerAnswer(f"expected a completion chunk, got {type(data).__name__}")
    if "error" in data:
        return RemoteChunk(error=_error_text(data["error"]))
    if "content" not in data:
        raise ServerAnswer("a chunk without `content`: is this llama.cpp's llama-server?")
    tokens = llama_server_tokens(data.get("completion_probabilities") or data.get("probs"), k)
    if not tokens and data.get("content"):
        tokens = [RemoteToken(str(data["content"]), None, [])]
    finish = None
    if data.get("stop"):
        finish = "length" if data.get("stop_type") == "limit" else "stop"
    return RemoteChunk(tokens=tokens, finish=finish)


# -- ollama (/api/generate, raw) -----------------------------------------------------------------------------


def ollama_body(model: str, prompt: str, settings: SamplingSettings, top_k: int, *, stream: bool) -> dict[str, Any]:
    options: dict[str, Any] = {
        "num_predict": settings.max_tokens,
        "temperature": settings.temperature,
        "top_p": settings.top_p,
        "top_k": settings.top_k,
        "repeat_penalty": 1.0,  # Ollama's default is 1.1; a local lane has no penalty
    }
    if settings.seed is not None:
        options["seed"] = settings.seed
    body: dict[str, Any] = {"model": model, "prompt": prompt, "raw": True, "stream": stream, "options": options}
    if top_k > 0:
        body["logprobs"] = True
        body["top_logprobs"] = top_k
    return body


def ollama_chunk(data: Any, k: int) -> RemoteChunk:
    if not isinstance(data, dict):
        raise ServerAnswer(f"expected a generate chunk, got {type(data).__name__}")
    if "error" in data:
        return RemoteChunk(error=_error_text(data["error"]))
    if "response" not in data and "done" not in data:
        raise ServerAnswer("a chunk without `response`: is this an Ollama server?")
    tokens = llama_server_tokens(data.get("logprobs"), k)  # the same {token, logprob, top_logprobs} items
    if not tokens and data.get("response"):
        tokens = [RemoteToken(str(data["response"]), None, [])]
    finish = None
    if data.get("done"):
        finish = "length" if data.get("done_reason") == "length" else "stop"
    return RemoteChunk(tokens=tokens, finish=finish)


def ollama_models(data: Any) -> list[str]:
    if not isinstance(data, dict) or not isinstance(data.get("models"), list):
        raise ServerAnswer("its model list is not in Ollama's shape ({'models': [{'name': ...}]})")
    return [str(model.get("name")) for model in data["models"] if isinstance(model, dict) and model.get("name")]


def _error_text(error: Any) -> str:
    if isinstance(error, dict):
        return str(error.get("message") or error)
    return str(error)
