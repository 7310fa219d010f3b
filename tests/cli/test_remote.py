# `simulacra ask` with a base lane on an inference server: the real `python -m llama_cpp.server` serving the bundled
# gemma beside the in-process lane, and the wrong servers a user really points a lane at (nothing listening, a
# web server answering HTML or text, a server without the model): one error line each, and nothing saved.

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest

from tests.support.cli_runs import Run, counts
from tests.support.processes import one_error_line
from tests.support.servers import GEMMA_ALIAS, base_server, canned_server, static_server

pytestmark = [pytest.mark.model, pytest.mark.slow]

QUESTION = "What is the capital of France?"


def configure(home: Path, api_base: str, **fields: str) -> None:
    home.mkdir(parents=True, exist_ok=True)
    extra = "".join(f'{key} = "{value}"\n' for key, value in fields.items())
    (home / "simulacra.toml").write_text(
        f'[[models]]\nname = "remote-gemma"\nkind = "simulator"\napi = "openai-completions"\n'
        f'api_base = "{api_base}"\n{extra}\n[timeouts]\nconnect = 2\nfirst_token = 120\nstall = 30\n'
    )


def test_ask_runs_a_remote_lane_beside_the_local_one(cli: Run, tmp_path: Path, gemma_server: str) -> None:
    configure(tmp_path, gemma_server)
    result = cli(
        tmp_path,
        "ask",
        QUESTION,
        "--lane",
        "remote-gemma@assistant",
        "--lane",
        "base@assistant",
        "--temperature",
        "0",
        "--json",
    )
    assert result.returncode == 0, result.stderr
    remote, local = json.loads(result.stdout)["lanes"]

    for lane in (remote, local):
        assert lane["status"] == "complete", lane["error"]
        assert lane["tokens"] and all(token["p"] is not None and token["top"] for token in lane["tokens"])
        assert "Paris" in lane["text"]
    metrics = remote["metrics"]
    assert metrics["in_character_p"] is not None and metrics["in_character_p"] > 0.5, (metrics, remote["notices"])
    assert metrics["mask_effect"] is not None and metrics["mask_effect"] > 0, (metrics, remote["notices"])


def test_the_models_command_shows_the_probe(cli: Run, tmp_path: Path, gemma_server: str) -> None:
    configure(tmp_path, gemma_server)
    result = cli(tmp_path, "models", "--probe")

    assert result.returncode == 0, result.stderr
    assert f"serves {GEMMA_ALIAS}: token probabilities, top-20, prompt probabilities" in result.stdout


def refused_and_nothing_saved(cli: Run, home: Path) -> str:
    result = cli(home, "ask", QUESTION, "--lane", "remote-gemma@assistant", "--lane", "base@raw")
    line = one_error_line(result)
    assert counts(home) == (0, 0, 0, 0)
    return line


def test_an_unreachable_server_is_one_error_and_nothing_saved(cli: Run, tmp_path: Path, closed_port: int) -> None:
    configure(tmp_path, f"http://127.0.0.1:{closed_port}/v1")
    line = refused_and_nothing_saved(cli, tmp_path)

    assert line.startswith(f"error: remote-gemma: cannot reach the server at http://127.0.0.1:{closed_port}/v1/models")
    assert line.endswith("Is it running, and is `api_base` right?")


def test_a_web_page_instead_of_a_server_is_one_error_and_nothing_saved(cli: Run, tmp_path: Path) -> None:
    page = "<!doctype html><html><body><h1>Welcome to nginx!</h1></body></html>"
    with static_server(tmp_path / "site", {"v1/models": page}) as url:
        configure(tmp_path / "home", f"{url}/v1")
        line = refused_and_nothing_saved(cli, tmp_path / "home")

    assert "answered with something that is not JSON: '<!doctype html>" in line
    assert line.endswith("Is `api_base` the server's address?")


def test_a_server_answering_text_that_is_not_json_is_one_error_and_nothing_saved(cli: Run, tmp_path: Path) -> None:
    with static_server(tmp_path / "site", {"v1/models": "OK"}) as url:
        configure(tmp_path / "home", f"{url}/v1")
        line = refused_and_nothing_saved(cli, tmp_path / "home")

    assert "answered with something that is not JSON: 'OK'" in line


MODELS = json.dumps({"object": "list", "data": [{"id": "m", "object": "model"}]})


def completion(logprobs: object) -> str:
    choice = {"text": " Paris", "index": 0, "logprobs": logprobs, "finish_reason": "length"}
    return json.dumps({"id": "c", "object": "text_completion", "created": 0, "model": "m", "choices": [choice]})


def test_a_probe_answered_in_another_shape_is_one_error_and_nothing_saved(cli_process: Run, tmp_path: Path) -> None:
    # Its `logprobs` a list where the OpenAI completions API has an object: `ask` used to end in a traceback.
    # In a process of its own, where litellm's pydantic warnings about the reply would reach stderr too.
    answers = {"/v1/models": MODELS, "/v1/completions": completion([-0.1])}
    with canned_server(answers) as url:
        configure(tmp_path, f"{url}/v1")
        line = refused_and_nothing_saved(cli_process, tmp_path)

    assert line == (
        f"error: remote-gemma: the server at {url}/v1: its `logprobs` is a list, not the OpenAI completions object"
        " ({'tokens': [...], 'token_logprobs': [...], 'top_logprobs': [...]})"
    )


def test_any_probe_the_answer_breaks_is_one_error_naming_the_api(cli: Run, tmp_path: Path) -> None:
    # llama-server's native answer with a token missing its logprob: whatever breaks, no traceback.
    answer = {
        "content": " Paris",
        "stop": True,
        "completion_probabilities": [{"token": " Paris", "top_logprobs": [{}]}],
    }
    with canned_server({"/v1/models": MODELS, "/completion": json.dumps(answer)}) as url:
        configure(tmp_path, url)
        toml = tmp_path / "simulacra.toml"
        toml.write_text(toml.read_text().replace('"openai-completions"', '"llama-server"'))
        line = refused_and_nothing_saved(cli, tmp_path)

    assert line.startswith(f"error: remote-gemma: the server at {url} answered the probe in a shape llama-server")
    assert line.endswith("is `api` right for this server?")


def test_a_model_the_server_does_not_serve_is_one_error_and_nothing_saved(
    cli: Run, tmp_path: Path, gemma_server: str
) -> None:
    configure(tmp_path, gemma_server, model="llama-3-70b")
    line = refused_and_nothing_saved(cli, tmp_path)

    assert line == (
        f"error: remote-gemma: the server at {gemma_server} does not serve the model 'llama-3-70b';"
        f" it serves {GEMMA_ALIAS}"
    )


def test_ask_does_not_hang_on_a_stopped_server(cli: Run, tmp_path: Path) -> None:
    with base_server(tmp_path / "server.log") as (server, base):
        configure(tmp_path / "home", base)
        text = (tmp_path / "home" / "simulacra.toml").read_text().replace("first_token = 120", "first_token = 5")
        (tmp_path / "home" / "simulacra.toml").write_text(text)
        os.kill(server.pid, signal.SIGSTOP)
        started = time.monotonic()
        line = refused_and_nothing_saved(cli, tmp_path / "home")
        took = time.monotonic() - started

    assert took < 5 + 15, "the probe's limit plus the command's start"
    assert line == f"error: remote-gemma: no answer from the server at {base}/models in time"
