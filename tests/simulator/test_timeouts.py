# A chat server that stops answering ends its lane within the configured limits, with the reply so far and the
# app's own words, while the other lanes of the turn finish. The server is llama-cpp-python's real one, started
# for this module alone (it is SIGSTOPped and SIGKILLed here, which would disturb the shared `openai_server`).

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from personas.mask import HistoryTurn
from simulator.chat import ChatModel
from simulator.errors import LaneError, LaneTimeout
from simulator.events import LaneEvent
from simulator.registry import ModelEntry, Registry
from simulator.turn import LaneConfig, run_turn
from simulator.values import SamplingSettings
from simulator.watchdog import Timeouts
from tests.support.lane_events import tokens_of
from tests.support.servers import chat_server
from tests.support.standins import HeaderRecordingServer

# Every test here drives litellm, whose first import costs about 9 s: more than the quick loop can carry.
pytestmark = pytest.mark.slow

LIMITS = Timeouts(connect=2, first_token=5, stall=2, total=120)
SLACK_S = 5.0  # what the acceptance allows over a limit
LONG = SamplingSettings(temperature=0.0, seed=1, max_tokens=200)
SHORT = SamplingSettings(temperature=0.0, seed=1, max_tokens=8)
STORY = "Write a long story about a dragon who learns to bake bread."
HI = [{"role": "user", "content": "Hi"}]


@contextmanager
def warm_chat_server(log: Path) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """A chat server that has answered once: the first request pays for warming up, and the limits under test
    are about a server that stops."""
    with chat_server(log) as (server, base):
        list(ChatModel("openai/smollm2", api_base=base).stream(HI, SHORT))
        yield server, base


@pytest.fixture(scope="module")
def stoppable(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    with warm_chat_server(tmp_path_factory.mktemp("stoppable") / "server.log") as running:
        yield running


@pytest.fixture(scope="module")
def turn_registry(stoppable: tuple[subprocess.Popen[bytes], str]) -> Iterator[Registry]:
    server = ModelEntry(name="server", kind="chat", litellm="openai/smollm2", api_base=stoppable[1])
    registry = Registry(n_ctx=1024, n_threads=1, extra=[server], timeouts=LIMITS)
    yield registry
    registry.close()


@pytest.fixture(scope="module", autouse=True)
def litellm_loaded() -> None:
    """litellm loads its provider modules on first use, which takes seconds: not what the limits are about."""
    with HeaderRecordingServer() as server:
        for model, suffix in [("openai/x", "/v1"), ("ollama/x", ""), ("anthropic/x", "")]:
            list(ChatModel(model, api_base=server.url + suffix).stream(HI, SHORT))


@pytest.fixture(autouse=True)
def no_openai_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)


def run_with_local_lane(
    registry: Registry, on_event: Callable[[LaneEvent], None] = lambda _: None
) -> tuple[list[LaneEvent], list[LaneEvent], float | None]:
    """A turn with the server lane and the bundled in-process `chat` lane: each lane's events, and when the
    server lane ended (time.monotonic())."""
    lanes = [
        LaneConfig(label="server", model="server", mask=None, settings=LONG),
        LaneConfig(label="chat", model="chat", mask=None, settings=SHORT),
    ]
    histories = [[HistoryTurn(role="user", text=STORY)], [HistoryTurn(role="user", text="What is the capital?")]]
    by_lane: list[list[LaneEvent]] = [[], []]
    ended: float | None = None
    for event in run_turn(lanes, histories, registry):
        by_lane[event.lane_index].append(event)
        if event.lane_index == 0 and event.kind in ("done", "error"):
            ended = time.monotonic()
        on_event(event)
    return by_lane[0], by_lane[1], ended


def assert_finished_normally(events: list[LaneEvent]) -> None:
    assert events[-1].kind == "done", events[-1].error
    assert "".join(token.text for token in tokens_of(events)).strip()


@pytest.mark.model
@pytest.mark.slow
def test_a_server_stopped_before_the_request_ends_its_lane_within_the_first_token_limit(
    stoppable: tuple[subprocess.Popen[bytes], str], turn_registry: Registry
) -> None:
    server, _ = stoppable
    os.kill(server.pid, signal.SIGSTOP)
    try:
        started = time.monotonic()
        server_lane, chat_lane, ended = run_with_local_lane(turn_registry)
    finally:
        os.kill(server.pid, signal.SIGCONT)

    assert ended is not None and ended - started <= LIMITS.first_token + SLACK_S, ended - started
    assert server_lane[-1].kind == "error"
    assert server_lane[-1].error == "openai/smollm2: no first token within 5 s: the server did not start answering"
    assert_finished_normally(chat_lane)


@pytest.mark.model
@pytest.mark.slow
def test_a_server_stopped_mid_reply_ends_its_lane_within_the_stall_limit_with_the_text_so_far(
    stoppable: tuple[subprocess.Popen[bytes], str], turn_registry: Registry
) -> None:
    server, _ = stoppable
    tokens: list[LaneEvent] = []
    stopped: list[float] = []

    def stop_at_the_third_token(event: LaneEvent) -> None:
        if event.lane_index == 0 and event.kind == "token":
            tokens.append(event)
            if len(tokens) == 3:
                os.kill(server.pid, signal.SIGSTOP)
                stopped.append(time.monotonic())

    try:
        server_lane, chat_lane, ended = run_with_local_lane(turn_registry, stop_at_the_third_token)
    finally:
        os.kill(server.pid, signal.SIGCONT)

    assert stopped and ended is not None and ended - stopped[0] <= LIMITS.stall + SLACK_S, "ended in time"
    assert server_lane[-1].kind == "error"
    assert server_lane[-1].error == (
        "openai/smollm2: no token for 2 s: the server stopped answering; the reply so far is saved"
    )
    assert len(tokens_of(server_lane)) >= 3, "the reply so far is kept"
    assert_finished_normally(chat_lane)


@pytest.mark.model
@pytest.mark.slow
def test_the_total_limit_ends_a_lane_that_is_still_streaming(stoppable: tuple[subprocess.Popen[bytes], str]) -> None:
    model = ChatModel("openai/smollm2", api_base=stoppable[1], timeouts=LIMITS.model_copy(update={"total": 1.5}))
    started = time.monotonic()

    with pytest.raises(LaneTimeout, match=r"took longer than the lane's 1\.5 s limit; the reply so far is saved"):
        list(model.stream([{"role": "user", "content": STORY}], LONG))
    assert time.monotonic() - started <= 1.5 + SLACK_S


@pytest.mark.model
@pytest.mark.slow
def test_a_server_killed_mid_reply_says_so_in_the_apps_words(tmp_path: Path) -> None:
    with warm_chat_server(tmp_path / "server.log") as (server, base):
        model = ChatModel("openai/smollm2", api_base=base, timeouts=LIMITS)
        received = []
        with pytest.raises(LaneError) as failed:
            for step in model.stream([{"role": "user", "content": STORY}], LONG):
                received.append(step)
                if len(received) == 3:
                    server.kill()
                    server.wait()

    assert str(failed.value) == "openai/smollm2: the server closed the connection mid-reply; the reply so far is saved"
    assert "Error" not in str(failed.value)


def test_a_server_that_sends_keep_alives_but_no_tokens_is_a_stall() -> None:
    # A read timeout never fires on a connection that keeps receiving bytes; the token watchdog does.
    with HeaderRecordingServer() as server:
        model = ChatModel("openai/stand-in", api_base=server.url + "/ping/v1", timeouts=LIMITS)
        started = time.monotonic()
        with pytest.raises(LaneTimeout, match="no token for 2 s"):
            list(model.stream(HI, SHORT))

    assert time.monotonic() - started <= LIMITS.stall + SLACK_S


def test_a_failing_server_is_asked_once() -> None:
    # The OpenAI client retries twice by default: three times the limits before a lane could end.
    with HeaderRecordingServer() as server:
        model = ChatModel("openai/stand-in", api_base=server.url + "/fail/v1", timeouts=LIMITS)
        with pytest.raises(LaneError):
            list(model.stream(HI, SHORT))

    assert len(server.requests_to("/chat/completions")) == 1


def test_a_failing_cloud_provider_is_asked_once(monkeypatch: pytest.MonkeyPatch) -> None:
    # No api_base, so litellm builds the OpenAI client itself: the lane's max_retries=0 must reach it.
    with HeaderRecordingServer() as server:
        monkeypatch.setenv("OPENAI_API_KEY", "fake-openai-key-for-tests")
        monkeypatch.setenv("OPENAI_BASE_URL", server.url + "/fail/v1")
        with pytest.raises(LaneError):
            list(ChatModel("openai/gpt-4o-mini", timeouts=LIMITS).stream(HI, SHORT))

    assert len(server.requests_to("/chat/completions")) == 1


@contextmanager
def full_backlog() -> Iterator[int]:
    """A port whose listener never accepts and whose backlog is full: the kernel drops further connection
    attempts, as a server host under a SYN flood or behind a black-holing firewall does."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        port = int(listener.getsockname()[1])
        fillers = [socket.socket() for _ in range(3)]
        try:
            for filler in fillers:
                filler.setblocking(False)
                filler.connect_ex(("127.0.0.1", port))
            yield port
        finally:
            for filler in fillers:
                filler.close()


@pytest.mark.parametrize(("model", "suffix"), [("openai/x", "/v1"), ("ollama/x", ""), ("anthropic/x", "")])
def test_a_server_that_accepts_no_connection_fails_within_the_connect_limit(model: str, suffix: str) -> None:
    limits = LIMITS.model_copy(update={"connect": 1.0, "first_token": 30.0})
    with full_backlog() as port:
        started = time.monotonic()
        with pytest.raises(LaneError, match="did not accept the connection in time"):
            list(ChatModel(model, api_base=f"http://127.0.0.1:{port}{suffix}", timeouts=limits).stream(HI, SHORT))

    assert time.monotonic() - started <= limits.connect + SLACK_S


def test_a_closed_port_fails_fast(closed_port: int) -> None:
    model = ChatModel("openai/x", api_base=f"http://127.0.0.1:{closed_port}/v1", timeouts=LIMITS)
    started = time.monotonic()

    with pytest.raises(LaneError, match="cannot reach the server"):
        list(model.stream(HI, SHORT))
    assert time.monotonic() - started <= LIMITS.connect + SLACK_S
