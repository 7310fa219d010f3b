# Issue 22: a run keeps a server's slots full across its cells. The server says how many requests it serves at
# once (llama-server's /props total_slots); the run keeps that many samples in flight, whichever cell they come
# from, and saves every one. The server is a stand-in (tests/support/slot_server.py): no llama.cpp server here
# serves several requests at once without its own decode hiding how many the client sent.

from __future__ import annotations

import threading

from sqlalchemy import Engine

from personas.suites import parse_suite_toml
from simulator.registry import ModelEntry, Registry
from tests.support.slot_server import SlotServer
from ui.service.experiments.service import Experiments

SUITE = """
name = "slots"
lanes = ["server@assistant"]
samples = 3
seed = 1
[settings]
max_tokens = 6
[[prompts]]
text = "Name a colour."
[[prompts]]
text = "Name a fruit."
[[prompts]]
text = "Name a river."
[[prompts]]
text = "Name a town."
[[scorers]]
name = "says_w1"
kind = "contains"
text = ["w1"]
"""


def run_on(server: SlotServer, engine: Engine, max_concurrency: int | None = None) -> tuple[str, int]:
    entry = ModelEntry(
        name="server", kind="simulator", api="llama-server", api_base=server.url, max_concurrency=max_concurrency
    )
    service = Experiments(engine, Registry(extra=[entry]))
    progress = list(service.execute(service.start(parse_suite_toml(SUITE, "slots.toml"))))
    return progress[-1].status, progress[-1].samples_done


def test_a_run_fills_the_slots_the_server_reports_across_cells(engine: Engine) -> None:
    # Three samples a cell and five slots (not the default four): five in flight at once means two cells at once.
    with SlotServer(slots=5, token_s=0.03) as server:
        assert run_on(server, engine) == ("complete", 12)
    assert server.peak == 5


def test_a_configured_concurrency_wins_over_the_servers_slots(engine: Engine) -> None:
    with SlotServer(slots=4, token_s=0.01) as server:
        assert run_on(server, engine, max_concurrency=2) == ("complete", 12)
    assert server.peak == 2


def test_a_run_stopped_while_samples_wait_for_a_slot_links_only_finished_replies(engine: Engine) -> None:
    # One slot and a dozen samples: when Stop comes, some samples are waiting for the slot. They end without a
    # request and are not counted; only replies that streamed to their end are linked.
    with SlotServer(slots=1, token_s=0.02) as server:
        entry = ModelEntry(name="server", kind="simulator", api="llama-server", api_base=server.url)
        service = Experiments(engine, Registry(extra=[entry]))
        run_id = service.start(parse_suite_toml(SUITE.replace("samples = 3", "samples = 12"), "slots.toml"))
        cancel = threading.Event()
        for progress in service.execute(run_id, cancel):
            if progress.samples_done >= 1:
                cancel.set()
    report = service.report(run_id)
    linked = [s for lane in report.lanes for cell in lane.cells for s in cell.samples]
    assert report.status == "stopped" and 1 <= len(linked) < 48
    assert all(s.text and s.text.count(" w") == 6 for s in linked), [s.text for s in linked]
