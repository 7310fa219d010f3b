"""Which API key a chat lane may send, enforced on the wire: litellm fills in a provider's key from the environment
(OPENAI_API_KEY, OLLAMA_API_KEY, ANTHROPIC_API_KEY, ...) even for a server the user named, so a key for one
service would otherwise reach another."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import Any

from simulator.errors import LaneError
from simulator.litellm_boot import litellm

# What litellm and the OpenAI client are handed when a server needs no key: both refuse to send a request
# without one. The request hook removes it before it leaves, and it is not a secret if it ever did leave.
NO_KEY = "simulacra-no-key"

# Headers that identify the caller to a provider. The organisation and project ids are not secrets, but they
# are the user's OpenAI account and have no business at another server.
_CREDENTIAL_HEADERS = frozenset(
    {"authorization", "proxy-authorization", "x-api-key", "api-key", "x-goog-api-key"}
    | {"openai-organization", "openai-project"}
)


def env_secrets() -> list[str]:
    """Values of environment variables that look like credentials (their names say KEY, TOKEN or SECRET)."""
    return [
        value
        for name, value in os.environ.items()
        if value and len(value) >= 8 and ("KEY" in name or "TOKEN" in name or "SECRET" in name)
    ]


def server_key(model: str, api_key_env: str | None) -> str | None:
    """The key configured for a named server: the value of `api_key_env`, or None when none is configured.

    Raises:
        LaneError: `api_key_env` is configured but the variable is not set.
    """
    if api_key_env is None:
        return None
    value = os.environ.get(api_key_env)
    if not value:
        raise LaneError(
            f"{model}: no API key. Set {api_key_env} in the environment or in .env (its [[models]] entry names it;"
            " keys are never stored by Simulacra)."
        )
    return value


@functools.cache
def shared_ssl_context() -> Any:
    """One certificate context (httpx's default, from certifi) for every HTTP client here. Building one costs about
    30 ms of CPU, and each request to a server gets a client of its own (closing it is how a lane hangs up): a run
    keeping 8 requests in flight spent more time on contexts than on its replies."""
    import httpx

    return httpx.create_ssl_context()


def strip_credentials(key: str | None) -> Callable[[Any], None]:
    """An httpx request hook that removes every credential header except one carrying `key`, and any header
    carrying a secret from the environment that is not `key`."""

    def hook(request: Any) -> None:
        secrets = env_secrets()
        for name in list(request.headers.keys()):
            value = request.headers.get(name, "")
            credential = name.lower() in _CREDENTIAL_HEADERS or any(secret in value for secret in secrets)
            if credential and not (key and key in value):
                del request.headers[name]

    return hook


def guarded_client(api_base: str, key: str | None, timeout: Any) -> Any:
    """One `client=` for litellm that sends through HTTP clients whose request hook strips credentials.

    litellm hands `client` to whichever HTTP layer the provider uses: its own HTTPHandler (Anthropic, Ollama,
    vLLM, ...) or an OpenAI SDK client (OpenAI-compatible servers), and silently builds its own, unguarded, when
    the type does not match. This object is an HTTPHandler that answers the OpenAI client's attributes too, so
    every provider prefix goes through the guard without a table of which provider uses which layer.
    """
    litellm()  # the offline switches, before litellm's modules load
    import httpx
    import openai
    from litellm.llms.custom_httpx.http_handler import HTTPHandler

    hooks = {"request": [strip_credentials(key)]}

    class GuardedClient(HTTPHandler):  # type: ignore[misc]
        def __init__(self) -> None:
            client = httpx.Client(
                event_hooks=hooks, timeout=timeout, follow_redirects=True, verify=shared_ssl_context()
            )
            super().__init__(client=client)
            # max_retries=0: a retried stream would triple the time a stopped server holds the lane.
            self.sdk = openai.OpenAI(
                api_key=key or NO_KEY,
                base_url=api_base,  # litellm uses a given client as it is, base URL included
                max_retries=0,
                timeout=timeout,
                http_client=openai.DefaultHttpxClient(event_hooks=hooks, timeout=timeout, verify=shared_ssl_context()),
            )

        def __getattr__(self, name: str) -> Any:  # only for what HTTPHandler lacks: the OpenAI client's API
            if name == "sdk":
                raise AttributeError(name)
            return getattr(self.sdk, name)

        def post(self, *args: Any, **kwargs: Any) -> Any:
            # Both have a `post`; only the OpenAI client's takes `cast_to` (it is required there).
            if "cast_to" in kwargs:
                return self.sdk.post(*args, **kwargs)
            # litellm flattens the lane's httpx.Timeout to one number for most providers, which would stretch
            # the connect limit to the read backstop: the client's own timeout keeps them apart.
            kwargs.pop("timeout", None)
            return super().post(*args, **kwargs)

        def close(self) -> None:  # HTTPHandler leaves a client it was given open
            self.client.close()
            self.sdk.close()

    return GuardedClient()
