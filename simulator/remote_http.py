"""The HTTP side of a remote base lane: one guarded httpx client per server, JSON requests, and streamed lines.

Streaming goes through httpx, not litellm: litellm's `text_completion` stream hands back every chunk with
`logprobs=None` (checked against `llama_cpp.server`), and the token probabilities are the point of a base lane.
The one-token and echo requests of an `openai-completions` server do go through litellm, which passes their
`logprobs` through unchanged. Errors become one line a person can act on: which server, what went wrong.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from simulator.credentials import NO_KEY, guarded_client, server_key, shared_ssl_context, strip_credentials
from simulator.errors import LaneError
from simulator.litellm_boot import litellm
from simulator.remote_apis import RemoteChunk, ServerAnswer, decode, sse_payload
from simulator.watchdog import Timeouts


class RemoteFailure(LaneError):
    """The server could not be reached, answered an error, or answered something that is not its API."""


class RemoteHttp:
    """Requests to one server at `api_base`, sending the key in `api_key_env` (or none) within `timeouts`."""

    def __init__(self, name: str, api_base: str, *, api_key_env: str | None, timeouts: Timeouts) -> None:
        self.name = name
        self.api_base = api_base.rstrip("/")
        self.api_key_env = api_key_env
        self.timeouts = timeouts

    def key(self) -> str | None:
        return server_key(self.name, self.api_key_env)

    def client(self, *, read: float | None = None) -> Any:
        import httpx

        key = self.key()
        timeout = self.timeouts.http() if read is None else httpx.Timeout(read, connect=self.timeouts.connect)
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return httpx.Client(
            timeout=timeout,
            headers=headers,
            event_hooks={"request": [strip_credentials(key)]},
            follow_redirects=True,
            verify=shared_ssl_context(),
        )

    def url(self, path: str) -> str:
        return f"{self.api_base}{path}"

    def get_json(self, path: str) -> Any:
        return self._json("GET", path, None)

    def post_json(self, path: str, body: dict[str, Any], *, read: float | None = None) -> Any:
        """POST `body`; `read` is how long the answer may take (by default the first-token limit)."""
        return self._json("POST", path, body, read=read)

    def _json(self, method: str, path: str, body: dict[str, Any] | None, *, read: float | None = None) -> Any:
        url = self.url(path)
        try:
            with self.client(read=read or self.timeouts.first_token) as client:
                response = client.request(method, url, json=body)
                _raise_for_status(response, url)
                return decode(response.text, f"the server at {url}")
        except ServerAnswer as e:
            raise RemoteFailure(f"{self.name}: {e}. Is `api_base` the server's address?") from None
        except RemoteFailure:
            raise
        except Exception as e:  # noqa: BLE001 - httpx's errors, described for the user
            raise RemoteFailure(describe_http_error(self.name, url, e)) from e

    def stream(
        self, client: Any, path: str, body: dict[str, Any], parse: Callable[[Any], RemoteChunk]
    ) -> Iterator[RemoteChunk]:
        """The parsed chunks of a streamed reply, SSE (`data: {...}`) or NDJSON lines alike."""
        url = self.url(path)
        with client.stream("POST", url, json=body) as response:
            if response.status_code >= 400:
                response.read()
            _raise_for_status(response, url)
            for line in response.iter_lines():
                line = line.strip()
                payload = line if line.startswith("{") else sse_payload(line)
                if payload is None:
                    if line.startswith("<"):
                        raise ServerAnswer(f"the server at {url} answered HTML, not a stream of completions")
                    continue
                yield parse(decode(payload, f"the server at {url}"))

    def text_completion(self, model: str, *, read: float | None = None, **kwargs: Any) -> dict[str, Any]:
        """One non-streamed `/v1/completions` request through litellm, as a plain dict; `read` is how long it may
        take to answer (by default the lane's usual backstop)."""
        import httpx

        key = self.key()
        timeout = self.timeouts.http() if read is None else httpx.Timeout(read, connect=self.timeouts.connect)
        client = guarded_client(self.api_base, key, timeout)
        try:
            response = litellm().text_completion(
                model=f"openai/{model}",
                api_base=self.api_base,
                api_key=key or NO_KEY,
                client=client,
                num_retries=0,
                max_retries=0,
                timeout=timeout,
                **kwargs,
            )
        except Exception as e:  # noqa: BLE001 - litellm's exception types, described for the user
            from simulator.chat import describe_litellm_error

            raise RemoteFailure(describe_litellm_error(self.name, self.api_base, e)) from e
        finally:
            client.close()
        # Quietly: a reply of another shape is named by whoever reads it, not by pydantic's warning on stderr.
        return response.model_dump(warnings=False)  # type: ignore[no-any-return]


def _raise_for_status(response: Any, url: str) -> None:
    if response.status_code < 400:
        return
    try:
        detail = response.json()
        detail = detail.get("error", detail) if isinstance(detail, dict) else detail
        if isinstance(detail, dict):
            detail = detail.get("message") or detail
    except ValueError:
        detail = " ".join(response.text.split())[:120]
    raise RemoteFailure(f"the server at {url} answered HTTP {response.status_code}: {str(detail)[:300]}")


def describe_http_error(name: str, url: str, error: Exception, *, mid_reply: bool = False) -> str:
    kind = type(error).__name__
    if kind == "ConnectTimeout":
        return f"{name}: cannot reach the server at {url}: it did not accept the connection in time. Is it running?"
    if kind in ("ConnectError", "UnsupportedProtocol", "InvalidURL"):
        return f"{name}: cannot reach the server at {url} ({error or kind}). Is it running, and is `api_base` right?"
    if kind in ("RemoteProtocolError", "ReadError", "WriteError") or isinstance(error, ConnectionError):
        if mid_reply:
            return f"{name}: the server closed the connection mid-reply; the reply so far is saved"
        return f"{name}: the server at {url} closed the connection ({error or kind})"
    if kind in ("ReadTimeout", "WriteTimeout", "PoolTimeout"):
        return f"{name}: no answer from the server at {url} in time"
    return f"{name}: {kind}: {str(error)[:300]}"
