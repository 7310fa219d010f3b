# A base lane on a real inference server: `python -m llama_cpp.server` serving the same gemma GGUF the local
# lane loads, so the two can be compared token by token. The server is killed and SIGSTOPped mid-reply here,
# each fault on a server of its own.

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from personas.catalog import load_mask
from personas.mask import HistoryTurn
from simulator.events import LaneEvent, Reply
from simulator.registry import ModelEntry, Registry
from simulator.turn import LaneConfig, run_turn
from simulator.values import SamplingSettings, Token
from simulator.watchdog import Timeouts
from tests.support.lane_events import collect, text_of, tokens_of
from tests.support.servers import GEMMA_ALIAS, base_server

pytestmark = [pytest.mark.model, pytest.mark.slow]  # litellm's first import alone takes about 9 s

# llama_cpp.server sorts gemma's 262k-token vocabulary in Python for every token it gives logprobs for: about a
# second a token on an idle core, several on a busy one. The limits leave room for that.
LIMITS = Timeouts(connect=2, first_token=120, stall=20, total=600)
SLACK_S = 5.0
GREEDY = SamplingSettings(temperature=0.0, top_k=40, max_tokens=10, seed=1)
STORY = "Once upon a time, in a small village by the sea, there lived"
# Every one of its next ten tokens is the clear favourite, so the greedy choice does not hang on a few hundredths.
DAYS = "The days of the week are Monday, Tuesday,"
QUESTION = [HistoryTurn(role="user", text="What is the capital of France?")]


def remote_entry(api_base: str, **fields: str) -> ModelEntry:
    return ModelEntry(name="remote-gemma", kind="simulator", api="openai-completions", api_base=api_base, **fields)


@pytest.fixture(scope="module")
def remote_registry(gemma_server: str) -> Iterator[Registry]:
    registry = Registry(n_ctx=1024, n_threads=1, extra=[remote_entry(gemma_server)], timeouts=LIMITS)
    yield registry
    registry.close()


def both(document: str | None, settings: SamplingSettings, **extra: object) -> list[LaneConfig]:
    mask = load_mask("assistant")
    return [
        LaneConfig(label=model, model=model, mask=mask, settings=settings, key=model, document=document, **extra)  # type: ignore[arg-type]
        for model in ("remote-gemma", "base")
    ]


def test_the_probe_says_what_the_server_serves_and_returns(remote_registry: Registry) -> None:
    entry = remote_registry.resolve("remote-gemma")
    probe = remote_registry.probe(entry)

    assert (probe.model, probe.logprobs, probe.prompt_logprobs) == (GEMMA_ALIAS, True, True)
    assert probe.top_k >= 5
    assert remote_registry.status(entry).probe == probe.summary()
    assert probe.summary().startswith(f"serves {GEMMA_ALIAS}: token probabilities, top-")


def test_the_remote_lane_agrees_with_the_local_lane_on_the_same_document(remote_registry: Registry) -> None:
    lanes = both(DAYS, GREEDY, metrics=False)
    remote, local = (tokens_of(events) for events in collect(run_turn(lanes, [[], []], remote_registry), 2))

    assert len(remote) == len(local) == 10
    assert [t.text for t in remote] == [t.text for t in local]
    for mine, theirs in zip(remote, local, strict=True):
        assert mine.p is not None and theirs.p is not None
        assert abs(mine.p - theirs.p) <= 0.06, (mine, theirs)
        assert len(mine.top) == 5 and mine.top[0].text == theirs.top[0].text


def test_a_servers_entropy_is_a_labelled_lower_bound_of_the_true_one(remote_registry: Registry) -> None:
    lanes = both(STORY, GREEDY.model_copy(update={"max_tokens": 6}), metrics=False)
    remote, local = (tokens_of(events) for events in collect(run_turn(lanes, [[], []], remote_registry), 2))

    assert [t.text for t in remote] == [t.text for t in local]
    for bound, true in zip(remote, local, strict=True):
        assert bound.entropy_bound and not true.entropy_bound
        assert bound.entropy is not None and true.entropy is not None
        # The server decodes in batch shapes of its own, which move a probability by about 0.01: the slack.
        assert bound.entropy <= true.entropy + 0.01, (bound, true)
    assert any((t.entropy or 0) > 0.5 for t in local)  # an open story: the bound is not checked on zeros only


def test_a_masked_turn_stops_at_the_users_tag_and_has_its_fidelity_metrics(remote_registry: Registry) -> None:
    settings = GREEDY.model_copy(update={"max_tokens": 40})
    lanes = both(None, settings)
    remote, local = collect(run_turn(lanes, [QUESTION, QUESTION], remote_registry), 2)
    metrics, local_metrics = remote[-1].metrics, local[-1].metrics

    assert "User:" not in text_of(tokens_of(remote))
    assert metrics is not None and local_metrics is not None
    assert metrics.ended_by == local_metrics.ended_by == "user_turn"
    assert metrics.in_character_p is not None and local_metrics.in_character_p is not None
    assert abs(metrics.in_character_p - local_metrics.in_character_p) < 0.1
    assert metrics.perplexity is not None and metrics.mask_effect is not None
    assert metrics.mask_effect_unavailable is None
    assert remote[-1].model_sha256 is None, "a server's weights are not here to hash"


def test_a_branch_from_a_token_continues_after_the_chosen_token(remote_registry: Registry) -> None:
    prefix = (Token(text=" Wednesday"), Token(text=" and"))
    lanes = both(DAYS, GREEDY, prefix=prefix, metrics=False)
    remote, local = (tokens_of(events) for events in collect(run_turn(lanes, [[], []], remote_registry), 2))

    assert text_of(remote).startswith(" Wednesday and") and len(remote) > 2
    assert remote[2].text == local[2].text == " Thursday"


def test_samples_run_side_by_side_on_the_server_each_with_its_seed(remote_registry: Registry) -> None:
    # llama_cpp.server does not promise the same text for the same seed (replay reports where it differs).
    lanes = [
        LaneConfig(
            label=f"s{n}",
            model="remote-gemma",
            mask=None,
            settings=SamplingSettings(temperature=1.0, max_tokens=8, seed=n),
            key=f"s{n}",
            document=STORY,
            metrics=False,
        )
        for n in range(3)
    ]
    samples = collect(run_turn(lanes, [[], [], []], remote_registry), 3)

    assert [events[-1].seed for events in samples] == [0, 1, 2]
    assert all(len(tokens_of(events)) == 8 and all(t.p for t in tokens_of(events)) for events in samples)


def fault_turn(
    registry: Registry, fault: Callable[[], None]
) -> tuple[list[LaneEvent], list[LaneEvent], float, float | None]:
    """A long remote reply beside a short local one; `fault` hits the server at the remote lane's third token.
    Returns each lane's events, when the fault happened and when the remote lane ended."""
    long_reply = SamplingSettings(temperature=0.8, max_tokens=300, seed=3)
    lanes = [
        LaneConfig(label="remote", model="remote-gemma", mask=None, settings=long_reply, document=STORY),
        LaneConfig(label="local", model="base", mask=None, settings=GREEDY, document=STORY),
    ]
    by_lane: list[list[LaneEvent]] = [[], []]
    hit: list[float] = []
    ended = None
    for event in run_turn(lanes, [[], []], registry):
        by_lane[event.lane_index].append(event)
        if event.lane_index == 0 and event.kind == "token" and len(tokens_of(by_lane[0])) == 3:
            fault()
            hit.append(time.monotonic())
        if event.lane_index == 0 and event.kind in ("done", "error"):
            ended = time.monotonic()
    assert hit, "the remote lane wrote three tokens"
    return by_lane[0], by_lane[1], hit[0], ended


def folded(events: list[LaneEvent]) -> Reply:
    reply = Reply()
    for event in events:
        reply.apply(event)
    return reply


def test_a_server_killed_mid_reply_leaves_an_incomplete_reply_and_the_other_lane_finishes(tmp_path: Path) -> None:
    with base_server(tmp_path / "server.log") as (server, base):
        registry = Registry(n_ctx=1024, n_threads=1, extra=[remote_entry(base)], timeouts=LIMITS)
        remote, local, killed, ended = fault_turn(registry, lambda: (server.kill(), server.wait()))

    reply = folded(remote)
    assert ended is not None and ended - killed <= SLACK_S
    assert reply.status == "incomplete" and len(reply.tokens) >= 3 and reply.text.strip()
    assert reply.error == "remote-gemma: the server closed the connection mid-reply; the reply so far is saved"
    assert local[-1].kind == "done" and len(tokens_of(local)) == 10


def test_a_server_stopped_mid_reply_ends_the_lane_within_the_stall_limit(tmp_path: Path) -> None:
    with base_server(tmp_path / "server.log") as (server, base):
        registry = Registry(n_ctx=1024, n_threads=1, extra=[remote_entry(base)], timeouts=LIMITS)
        try:
            remote, local, stopped, ended = fault_turn(registry, lambda: os.kill(server.pid, signal.SIGSTOP))
        finally:
            os.kill(server.pid, signal.SIGCONT)

    reply = folded(remote)
    assert ended is not None and ended - stopped <= LIMITS.stall + SLACK_S
    assert reply.status == "incomplete" and len(reply.tokens) >= 3
    assert reply.error == "remote-gemma: no token for 20 s: the server stopped answering; the reply so far is saved"
    assert local[-1].kind == "done" and len(tokens_of(local)) == 10
