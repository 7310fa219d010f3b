# Which key a chat lane sends, read off the wire: a server the user named gets the key its config names, or no
# key at all whatever the provider prefix; a cloud lane gets its provider's own variable. The receiving end is
# the HeaderRecordingServer stand-in (tests/support/standins.py): no real server reports the credentials it was sent.

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from simulator.base import Finished
from simulator.chat import ChatModel
from simulator.errors import LaneError
from simulator.registry import ModelEntry, Registry
from simulator.turn import LaneConfig, run_turn
from simulator.values import SamplingSettings, Token
from tests.support.standins import HeaderRecordingServer
from ui.service.settings import Settings

# Every test here drives litellm, whose first import costs about 9 s: more than the quick loop can carry.
pytestmark = pytest.mark.slow

OPENAI_KEY = "fake-openai-key-for-tests"
ANTHROPIC_KEY = "fake-anthropic-key-for-tests"
OLLAMA_KEY = "fake-ollama-key-for-tests"
SERVER_KEY = "fake-server-key-for-tests"
SETTINGS = SamplingSettings(temperature=0.0, max_tokens=8)
MESSAGES = [{"role": "user", "content": "Hello?"}]

# (provider prefix, what to append to the server's URL for api_base, the path the chat request goes to)
SERVERS = [
    ("openai/stand-in", "/v1", "/v1/chat/completions"),
    ("ollama/stand-in", "", "/api/generate"),
    ("ollama_chat/stand-in", "", "/api/chat"),
    ("anthropic/claude-stand-in", "", "/v1/messages"),
    ("hosted_vllm/stand-in", "/v1", "/v1/chat/completions"),
]


@pytest.fixture(autouse=True)
def every_provider_key(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keys for every provider in the environment, as on a machine that uses them all."""
    monkeypatch.setenv("OPENAI_API_KEY", OPENAI_KEY)
    monkeypatch.setenv("ANTHROPIC_API_KEY", ANTHROPIC_KEY)
    monkeypatch.setenv("OLLAMA_API_KEY", OLLAMA_KEY)
    monkeypatch.delenv("MY_SERVER_KEY", raising=False)


@pytest.fixture
def server() -> Iterator[HeaderRecordingServer]:
    with HeaderRecordingServer() as running:
        yield running


def reply(model: ChatModel) -> str:
    *tokens, finished = list(model.stream(MESSAGES, SETTINGS))
    assert isinstance(finished, Finished) and finished.reason == "stop"
    return "".join(token.text for token in tokens if isinstance(token, Token))


def no_secret_in(headers: dict[str, str]) -> bool:
    return not any(key in value for value in headers.values() for key in (OPENAI_KEY, ANTHROPIC_KEY, OLLAMA_KEY))


@pytest.mark.parametrize(("model", "suffix", "path"), SERVERS, ids=[s[0].split("/")[0] for s in SERVERS])
def test_a_named_server_gets_no_key_unless_configured(
    server: HeaderRecordingServer, model: str, suffix: str, path: str
) -> None:
    assert reply(ChatModel(model, api_base=server.url + suffix)) == "Hello there"

    (request,) = server.requests_to(path)
    assert request.credentials() == {}, f"{model} sent {request.credentials()}"
    assert all(no_secret_in(seen.headers) for seen in server.seen), "no key reaches any request"


@pytest.mark.parametrize(("model", "suffix", "path"), SERVERS, ids=[s[0].split("/")[0] for s in SERVERS])
def test_a_configured_key_is_sent_exactly(
    server: HeaderRecordingServer, monkeypatch: pytest.MonkeyPatch, model: str, suffix: str, path: str
) -> None:
    monkeypatch.setenv("MY_SERVER_KEY", SERVER_KEY)

    assert reply(ChatModel(model, api_base=server.url + suffix, api_key_env="MY_SERVER_KEY")) == "Hello there"

    (request,) = server.requests_to(path)
    sent = {"x-api-key": SERVER_KEY} if model.startswith("anthropic/") else {"authorization": f"Bearer {SERVER_KEY}"}
    assert request.credentials() == sent
    assert all(no_secret_in(seen.headers) for seen in server.seen)


def test_a_configured_key_that_is_not_set_stops_the_lane_before_any_request(server: HeaderRecordingServer) -> None:
    model = ChatModel("openai/stand-in", api_base=server.url + "/v1", api_key_env="MY_SERVER_KEY")

    assert model.missing_keys() == ["MY_SERVER_KEY"]
    with pytest.raises(LaneError, match="Set MY_SERVER_KEY"):
        reply(model)
    assert server.seen == []


def test_a_cloud_lane_sends_its_providers_own_key_and_never_the_openai_key(
    server: HeaderRecordingServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # litellm's own variable for where Anthropic is: the lane itself names no server.
    monkeypatch.setenv("ANTHROPIC_API_BASE", server.url)

    assert reply(ChatModel("anthropic/claude-stand-in")) == "Hello there"

    (request,) = server.requests_to("/v1/messages")
    assert request.credentials() == {"x-api-key": ANTHROPIC_KEY}
    assert not any(OPENAI_KEY in value for value in request.headers.values())


def test_an_openai_lane_without_a_server_sends_the_openai_key(
    server: HeaderRecordingServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", server.url + "/v1")  # litellm's own variable for where OpenAI is

    assert reply(ChatModel("openai/gpt-4o-mini")) == "Hello there"

    (request,) = server.requests_to("/v1/chat/completions")
    assert request.credentials() == {"authorization": f"Bearer {OPENAI_KEY}"}


def test_a_cloud_lane_without_its_providers_key_never_falls_back_to_the_openai_key() -> None:
    # litellm sends OPENAI_API_KEY to an OpenAI-compatible provider whose own key is missing; the lane stops first.
    with pytest.raises(LaneError, match="GROQ_API_KEY"):
        reply(ChatModel("groq/llama-3.1-8b-instant"))


def test_a_key_echoed_in_a_servers_error_is_not_shown_or_logged(
    server: HeaderRecordingServer, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("MY_SERVER_KEY", SERVER_KEY)
    caplog.set_level(logging.DEBUG)

    with pytest.raises(LaneError) as failed:
        reply(ChatModel("openai/stand-in", api_base=server.url + "/echo/v1", api_key_env="MY_SERVER_KEY"))

    assert server.requests_to("/chat/completions")[0].credentials() == {"authorization": f"Bearer {SERVER_KEY}"}
    assert "the API key was refused" in str(failed.value)
    assert SERVER_KEY not in str(failed.value) and SERVER_KEY not in caplog.text


def test_api_key_env_goes_from_simulacra_toml_to_the_wire(
    server: HeaderRecordingServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    config = tmp_path / "simulacra.toml"
    config.write_text(
        f'[[models]]\nname = "mine"\nkind = "chat"\nlitellm = "ollama/stand-in"\napi_base = "{server.url}"\n'
        'api_key_env = "MY_SERVER_KEY"\n\n[timeouts]\nstall = 12.5\n'
    )
    monkeypatch.setenv("SIMULACRA_CONFIG", str(config))
    monkeypatch.setenv("MY_SERVER_KEY", SERVER_KEY)
    registry = Settings(data_dir=tmp_path).registry()
    lane = LaneConfig(label="mine", model="mine", mask=None, settings=SETTINGS)

    *_, done = list(run_turn([lane], [[]], registry))

    assert done.kind == "done", done.error
    assert registry.chat(registry.resolve("mine")).timeouts.stall == 12.5
    (request,) = server.requests_to("/api/generate")
    assert request.credentials() == {"authorization": f"Bearer {SERVER_KEY}"}
    assert registry.status(registry.resolve("mine")).key == "present"


def test_api_key_env_without_a_server_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "simulacra.toml"
    config.write_text('[[models]]\nname = "c"\nkind = "chat"\nlitellm = "anthropic/x"\napi_key_env = "MY_KEY"\n')
    monkeypatch.setenv("SIMULACRA_CONFIG", str(config))

    with pytest.raises(ValueError, match="api_key_env"):
        Settings(data_dir=tmp_path)


def test_the_models_page_says_whether_a_servers_key_is_set(monkeypatch: pytest.MonkeyPatch) -> None:
    keyed = ModelEntry(name="s", kind="chat", litellm="openai/x", api_base="http://127.0.0.1:9/v1", api_key_env="K_9")
    open_server = ModelEntry(name="o", kind="chat", litellm="openai/x", api_base="http://127.0.0.1:9/v1")
    registry = Registry(extra=[keyed, open_server])

    assert registry.status(keyed).key == "missing: K_9"
    assert registry.status(open_server).key == "not needed"
    monkeypatch.setenv("K_9", "value-of-k9")
    assert registry.status(keyed).key == "present"
