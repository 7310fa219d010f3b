# Fixtures for every test folder: the real bundled models, loaded once per run, and a real OpenAI-compatible
# server on 127.0.0.1. Nothing here is a mock.

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import pytest
from testsupport import free_port, stop_process, wait_for_server

import simulator  # noqa: F401 - sets GOMP_SPINCOUNT before any test imports llama_cpp (10x slower otherwise)
from simulator.bundled import smollm2_chat_path
from simulator.registry import Registry

# One llama.cpp thread: other test runs share the two cores, and a decode split over two threads waits
# for whichever core is busy (measured: twice as slow as one thread under load).
TEST_THREADS = 1


@pytest.fixture(scope="session")
def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on: connecting to it is refused."""
    return free_port()


@pytest.fixture(scope="session")
def registry() -> Iterator[Registry]:
    """The bundled models (base `base`, chat `chat`) with a 1024-token context, shared by the whole run."""
    registry = Registry(n_ctx=1024, n_threads=TEST_THREADS)
    yield registry
    registry.close()


@pytest.fixture(scope="session")
def openai_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """llama-cpp-python's OpenAI-compatible server with the bundled SmolLM2; yields its base URL (`.../v1`)."""
    port = free_port()
    log = tmp_path_factory.mktemp("openai-server") / "server.log"
    command = [
        sys.executable,
        "-m",
        "llama_cpp.server",
        "--model",
        str(smollm2_chat_path()),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--n_ctx",
        "1024",
        "--n_threads",
        str(TEST_THREADS),
    ]
    env = {**os.environ, "GOMP_SPINCOUNT": "10000"}
    with log.open("w") as output:  # a file, not a pipe: llama.cpp's loading chatter would fill a pipe and block
        server = subprocess.Popen(command, env=env, stdout=output, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}/v1"
    try:
        wait_for_server(f"{base}/models", server, timeout=120, log=log)
        yield base
    finally:
        stop_process(server)
