# An experiment's chat sample retries a server's refusal (5xx here; 429 in tests/cli/test_rate_limits.py) only
# under a retry policy, waits no longer than the server or the policy allows, and stops waiting on Stop. The
# server is the HeaderRecordingServer stand-in (tests/support/standins.py): no real server fails on demand.

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from simulator.chat import ChatModel
from simulator.errors import LaneError
from simulator.protocol import Finished
from simulator.retries import Refusal, Retries, RetryPolicy, retry_after
from simulator.values import SamplingSettings, Token
from tests.support.standins import PIECES, REFUSALS, HeaderRecordingServer

HI = [{"role": "user", "content": "Hi"}]
SHORT = SamplingSettings(temperature=0.0, seed=1, max_tokens=8)
QUICK = RetryPolicy(backoff_s=0.05)


def test_retry_after_is_read_in_seconds_or_as_an_http_date() -> None:
    in_a_minute = format_datetime(datetime.now(UTC) + timedelta(seconds=60), usegmt=True)

    assert retry_after({"Retry-After": "2"}) == 2.0
    assert retry_after({"retry-after-ms": "1500", "retry-after": "9"}) == 1.5
    assert 55 <= (retry_after({"retry-after": in_a_minute}) or 0) <= 60
    assert retry_after({"retry-after": "soon"}) is None and retry_after({}) is None


def test_a_server_asking_for_more_than_the_sample_may_wait_is_not_waited_for() -> None:
    retries = Retries(RetryPolicy(total_wait_s=120))
    started = time.monotonic()

    assert not retries.wait(Refusal(429, retry_after_s=3600), cancel=None)
    assert time.monotonic() - started < 0.1
    assert retries.gave_up == "more than the 120 s this sample may still wait"


def test_a_runs_stop_ends_a_wait_and_cancels_the_lane() -> None:
    # A run's Stop reaches a lane only with the lane's next event, and a waiting lane has none.
    run_stopped, lane = threading.Event(), threading.Event()
    threading.Timer(0.3, run_stopped.set).start()
    started = time.monotonic()

    assert Retries(RetryPolicy(also_stop=(run_stopped,))).wait(Refusal(429, retry_after_s=60), cancel=lane)
    assert time.monotonic() - started < 1.0 and lane.is_set()


@pytest.mark.slow  # litellm's first import costs about 9 s
def test_a_sample_rides_out_a_restarting_server_and_counts_its_retries() -> None:
    with HeaderRecordingServer() as server:
        model = ChatModel("openai/stand-in", api_base=server.url + "/restarting/v1")
        steps = list(model.stream(HI, SHORT, retry=QUICK))
        asked = len(server.requests_to("/chat/completions"))

    *tokens, finished = steps
    assert [t.text for t in tokens if isinstance(t, Token)] == PIECES
    assert finished == Finished(reason="stop", seed=1, retries=REFUSALS)
    assert asked == REFUSALS + 1


@pytest.mark.slow
def test_a_server_that_keeps_failing_ends_the_sample_after_the_policys_retries() -> None:
    with HeaderRecordingServer() as server:
        model = ChatModel("openai/stand-in", api_base=server.url + "/fail/v1")
        with pytest.raises(LaneError) as failed:
            list(model.stream(HI, SHORT, retry=RetryPolicy(retries=3, backoff_s=0.01)))
        asked = len(server.requests_to("/chat/completions"))

    assert asked == 4
    assert str(failed.value).startswith(f"openai/stand-in: the server at {server.url}/fail/v1 failed with HTTP 503")
    assert "(overloaded)" in str(failed.value) and "after 3 retries over" in str(failed.value)


@pytest.mark.slow
def test_stop_ends_a_samples_wait_at_once() -> None:
    cancel = threading.Event()
    with HeaderRecordingServer() as server:
        model = ChatModel("openai/stand-in", api_base=server.url + "/fail/v1")
        threading.Timer(0.5, cancel.set).start()
        started = time.monotonic()
        steps = list(model.stream(HI, SHORT, cancel=cancel, retry=RetryPolicy(backoff_s=60, max_backoff_s=60)))

    assert time.monotonic() - started < 2.0
    assert steps == [Finished(reason="cancelled", seed=1, retries=1)]
