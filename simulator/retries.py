"""Retrying a chat request a server refused for now (429, 5xx), for experiment samples only.

Why our own loop rather than litellm's `num_retries` or the OpenAI client's `max_retries`: litellm's retries
(tenacity, constant or exponential) never read `Retry-After` and neither reports how many retries it made;
the OpenAI client honours the header but not for other providers, reports no count, and retries inside the
lane's time limits. Here a retry happens only before anything of the reply has streamed, waits what the
server asked (or backs off), and is counted, so a run records it with the sample.
"""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any

_POLL_S = 0.1  # how often a wait looks at its stop switches

RATE_LIMITED = 429  # with the server's own failures (5xx), the statuses that mean "not now" rather than "no"


@dataclass(frozen=True)
class RetryPolicy:
    """How an experiment's chat sample retries a refusal: at most `retries` times, waiting at most `total_wait_s`
    in all. Each wait is what the server's `Retry-After` asks; without one, `backoff_s` doubled per retry up to
    `max_backoff_s`, with jitter so that many samples refused at once do not come back at once. A server that asks
    for more than what is left of `total_wait_s` is not waited for: the sample fails at once, in its words.

    A wait ends early when the lane is cancelled or any of `also_stop` is set: a run's Stop, which reaches a lane
    only with the lane's next event, and none comes while it waits."""

    retries: int = 5
    total_wait_s: float = 120.0
    backoff_s: float = 1.0
    max_backoff_s: float = 30.0
    also_stop: tuple[threading.Event, ...] = ()


@dataclass
class Refusal:
    """A request a server refused: its HTTP status and the wait it asked for, if it said."""

    status: int
    retry_after_s: float | None


def refusal_of(error: BaseException, causes: list[BaseException]) -> Refusal | None:
    """The refusal behind a litellm error if it is one worth retrying (429 or 5xx from a server that answered),
    else None: a connection that failed, a timeout or a 4xx is not retried. `causes` is the error's chain,
    outermost first; litellm reports a refused connection as a 500 it made up, so a network error anywhere in
    the chain rules a retry out."""
    if any(_network_error(c) for c in causes):
        return None
    for cause in causes:
        status = getattr(cause, "status_code", None)
        if isinstance(status, int):
            if status != RATE_LIMITED and not 500 <= status < 600:
                return None
            return Refusal(status, retry_after(_headers(cause)))
    return None


def retry_after(headers: Any) -> float | None:
    """Seconds a server asked to wait: `retry-after-ms` (OpenAI's), `Retry-After` in seconds or as an HTTP date.
    None when absent or unreadable."""
    if headers is None:
        return None
    millis = _header(headers, "retry-after-ms")
    if millis is not None:
        try:
            return max(0.0, float(millis) / 1000)
        except ValueError:
            pass
    value = _header(headers, "retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError, IndexError):
        return None


class Retries:
    """One sample's retries under a policy (None: never retry): how many were made, how long they waited, and
    why the last refusal was not retried."""

    def __init__(self, policy: RetryPolicy | None) -> None:
        self.policy = policy
        self.count = 0
        self.waited_s = 0.0
        self.gave_up = ""

    def wait(self, refusal: Refusal | None, cancel: threading.Event | None) -> bool:
        """Wait before retrying `refusal`; False when it is not to be retried (then `gave_up` may say why)."""
        policy = self.policy
        if policy is None or refusal is None:
            return False
        if self.count >= policy.retries:
            self.gave_up = f"after {self.count} retries over {self.waited_s:.1f} s"
            return False
        pause = refusal.retry_after_s
        if pause is None:
            pause = min(policy.max_backoff_s, policy.backoff_s * 2**self.count) * random.uniform(0.5, 1.0)
        left = policy.total_wait_s - self.waited_s
        if pause > left:  # the refusal's own line says how long the server asked for
            wait = "" if refusal.retry_after_s is not None else f"the next wait, {pause:.0f} s, is "
            self.gave_up = f"{wait}more than the {left:.0f} s this sample may still wait"
            if self.count:
                self.gave_up += f", after {self.count} retries"
            return False
        self.count += 1
        self.waited_s += pause
        switches = [s for s in (cancel, *policy.also_stop) if s is not None]
        until = time.monotonic() + pause
        while (left := until - time.monotonic()) > 0 and not any(s.is_set() for s in switches):
            time.sleep(min(left, _POLL_S))
        stopped = any(s.is_set() for s in switches)
        if stopped and cancel is not None:
            cancel.set()  # stopped while waiting: the lane ends as cancelled rather than asking again
        return not stopped or cancel is not None


def _headers(error: BaseException) -> Any:
    """The response headers litellm keeps on its errors: the response's own, else the copy it attaches."""
    response = getattr(error, "response", None)
    headers = getattr(response, "headers", None)
    return headers if headers else getattr(error, "litellm_response_headers", None) or getattr(error, "headers", None)


def _header(headers: Any, name: str) -> str | None:
    """A header by its name in any case (httpx's headers ignore case; a plain dict does not)."""
    try:
        found = [v for k, v in headers.items() if str(k).lower() == name]
    except AttributeError:
        return None
    return str(found[0]).strip() if found else None


# httpx's, the OpenAI client's and litellm's names for "never got an answer".
_NETWORK_ERRORS = {"ConnectError", "ConnectionError", "APIConnectionError", "ConnectTimeout", "ReadError"}


def _network_error(error: BaseException) -> bool:
    return isinstance(error, ConnectionError | TimeoutError) or type(error).__name__ in _NETWORK_ERRORS
