# Fixtures for every test folder: the real bundled models, loaded once per run, and a real OpenAI-compatible
# server on 127.0.0.1. Nothing here is a mock.

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

import simulator  # noqa: F401 - sets GOMP_SPINCOUNT before any test imports llama_cpp (10x slower otherwise)
from simulator.registry import Registry
from tests.support.llama_server import binary as llama_server_binary
from tests.support.processes import free_port
from tests.support.servers import chat_server

# An exported control vector against llama.cpp's own llama-server needs that server built by hand (`make
# llama-server`, about 10 minutes on two cores, too long for every run). Without it the test is skipped on a
# developer's machine and left out under CI=true, where nothing may skip: CI does not check it (docs/vectors.md).
if os.environ.get("CI") == "true" and not llama_server_binary().exists():
    collect_ignore = ["simulator/test_cvec_server.py"]

# Longest first among equals: `make test`'s xdist hands out whole modules, those with the most tests first and the
# others in this order. The one-test modules come last, and alphabetically their Chromium ones (a minute or more
# each) were the very last, where one worker ran them while the other sat idle. (Handing out every module in this
# order instead, --no-loadscope-reorder, ran the Chromium modules two at a time from the start, and two tests
# failed in the one full run that tried it, stopped at 24%.)
_RANKS = ("browser", "slow", "model")


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank: dict[object, int] = {}
    for item in items:
        mine = min((i for i, mark in enumerate(_RANKS) if item.get_closest_marker(mark)), default=len(_RANKS))
        rank[item.path] = min(rank.get(item.path, mine), mine)
    items.sort(key=lambda item: rank[item.path])


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
def gemma_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`python -m llama_cpp.server` serving the bundled gemma base model as `gemma-base`, shared by the run's
    remote-lane tests (a test that stops its server starts its own); yields its base URL (`.../v1`)."""
    from tests.support.servers import base_server

    with base_server(tmp_path_factory.mktemp("gemma") / "server.log") as (_, base):
        yield base


@pytest.fixture(scope="session")
def openai_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """llama-cpp-python's OpenAI-compatible server with the bundled SmolLM2; yields its base URL (`.../v1`)."""
    with chat_server(tmp_path_factory.mktemp("openai-server") / "server.log") as (_, base):
        yield base
