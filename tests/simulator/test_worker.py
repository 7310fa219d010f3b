# The local worker runs every local lane on one thread, one token at a time in turn: all local lanes stream
# together, a failing lane fails alone, and a lane whose reader goes away stops using the CPU.

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from simulator.base import Finished, Simulator
from simulator.errors import PromptTooLong
from simulator.registry import Registry
from simulator.values import SamplingSettings, Token
from simulator.worker import LocalWorker

pytestmark = pytest.mark.model

GREEDY = SamplingSettings(temperature=0.0, seed=1, max_tokens=6)


@pytest.fixture(scope="module")
def base(registry: Registry) -> Simulator:
    return registry.simulator(registry.resolve("base"))


@pytest.fixture
def worker() -> LocalWorker:
    return LocalWorker()  # its own thread, so no other test's jobs share the round-robin


def recorded(
    base: Simulator, log: list[str], name: str, document: str, settings: SamplingSettings = GREEDY
) -> Callable[[], Iterator[Token | Finished]]:
    """A real continuation that notes in `log`, on the worker thread, each item as it is produced."""

    def start() -> Iterator[Token | Finished]:
        for item in base.continue_document(document, settings, lane_key=name):
            log.append(f"{name} finished" if isinstance(item, Finished) else name)
            yield item

    return start


def test_two_local_lanes_stream_at_the_same_time(base: Simulator, worker: LocalWorker) -> None:
    log: list[str] = []
    first = worker.submit(recorded(base, log, "a", "The sun rises in the"))
    second = worker.submit(recorded(base, log, "b", "Water boils at a temperature of"))

    first_items, second_items = list(first), list(second)

    assert isinstance(first_items[-1], Finished) and isinstance(second_items[-1], Finished)
    first_end = min(log.index("a finished"), log.index("b finished"))
    assert "a" in log[:first_end] and "b" in log[:first_end], f"lanes ran one after the other: {log}"


def test_a_failing_job_raises_from_its_own_iterator_and_the_other_completes(
    base: Simulator, worker: LocalWorker
) -> None:
    too_long = "word " * (base.n_ctx + 50)  # a real fault: more tokens than the context holds
    failing = worker.submit(lambda: base.continue_document(too_long, GREEDY, lane_key="too-long"))
    healthy = worker.submit(lambda: base.continue_document("Cats and dogs are", GREEDY, lane_key="healthy"))

    with pytest.raises(PromptTooLong, match="tokens"):
        list(failing)
    items = list(healthy)

    assert isinstance(items[-1], Finished) and items[-1].reason == "length"
    assert "".join(item.text for item in items if isinstance(item, Token)).strip()


def test_closing_a_lanes_iterator_stops_its_generation(base: Simulator, worker: LocalWorker) -> None:
    log: list[str] = []
    long = worker.submit(recorded(base, log, "long", "A long story:", GREEDY.model_copy(update={"max_tokens": 300})))
    for _, _ in zip(range(2), long, strict=False):
        pass
    long.close()  # the reader went away (a closed tab, a stopped turn)

    after = list(worker.submit(recorded(base, log, "after", "One, two,")))

    assert isinstance(after[-1], Finished)
    # Had the closed lane kept going, the round-robin would have interleaved its tokens with these.
    assert "long" not in log[log.index("after") :], f"the closed lane kept generating: {log}"
    assert "long finished" not in log
