"""Workers sharing runs (issue 22), as a team runs them on PostgreSQL: two `simulacra experiment worker` processes
and the app draw one 200-sample run; one worker is killed with SIGKILL after it has drawn some; another takes over
its cells once its leases expire, the run completes with every sample exactly once, and `experiment runs --json`
shows each worker's share. The app is this test process: its Experiments page's own path (`experiment_jobs().start`
queues the run, and the process's worker draws it), without the page. On SQLite the worker command refuses."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import text

from simulator.registry import Registry
from tests.support.postgres import postgres_database
from tests.support.processes import one_error_line
from ui.service.experiments.jobs import experiment_jobs
from ui.service.experiments.service import Experiments
from ui.service.workspace import open_database

PROMPTS = 20  # x 1 lane x 10 samples: 200 samples in 20 cells
SUITE = """
name = "shared"
lanes = ["base@raw"]
samples = 10
seed = 5
[settings]
max_tokens = 2
{prompts}
[[scorers]]
name = "asks"
kind = "regex"
pattern = '\\?'
"""


def suite_file(home: Path) -> Path:
    prompts = "".join(f'[[prompts]]\ntext = "Name a number above {i}."\n' for i in range(PROMPTS))
    path = home / "shared.toml"
    home.mkdir(parents=True, exist_ok=True)
    path.write_text(SUITE.format(prompts=prompts), encoding="utf-8")
    return path


def wait_for(what: Callable[[], bool], seconds: float, message: str) -> None:
    deadline = time.monotonic() + seconds
    while not what():
        assert time.monotonic() < deadline, message
        time.sleep(0.2)


@pytest.mark.model
@pytest.mark.slow
def test_two_workers_and_the_app_share_a_run_and_one_killed_loses_nothing(
    cli: Callable[..., subprocess.CompletedProcess[str]],
    cli_start: Callable[..., subprocess.Popen[str]],
    registry: Registry,
    tmp_path: Path,
) -> None:
    with postgres_database() as url:
        engine = open_database(url)
        service = Experiments(engine, registry)
        workers = [
            cli_start(tmp_path / f"w{i}", "experiment", "worker", "--idle-exit", "3", SIMULACRA_DATABASE_URL=url)
            for i in range(2)
        ]
        try:
            job = experiment_jobs().start(service, service.suite(str(suite_file(tmp_path))))
            victim, survivor = workers
            victim_name, survivor_name = (f"{socket.gethostname()}:{p.pid}" for p in workers)

            def drawn_by(name: str) -> int:
                with engine.connect() as connection:
                    sql = text("SELECT count(*) FROM run_sample WHERE worker = :name")
                    return int(connection.execute(sql, {"name": name}).scalar_one())

            wait_for(lambda: drawn_by(victim_name) >= 3, 90, "the worker to be killed drew nothing")
            victim.kill()
            victim.wait()
            wait_for(lambda: job.done, 120, "the run did not finish after a worker was killed")
            assert survivor.wait(timeout=30) == 0  # --idle-exit: it ends once there is nothing left to draw
        finally:
            for process in workers:
                process.kill()
            experiment_jobs().retire(service)

        row = service.run(job.run_id)
        assert (row.status, row.samples_done, row.samples_total) == ("complete", 200, 200), row
        with engine.connect() as connection:
            samples = connection.execute(text("SELECT cell_id, sample_index FROM run_sample")).all()
            replies = connection.execute(text("SELECT count(*) FROM message WHERE role = 'model'")).scalar_one()
        assert len(samples) == 200 and len(set(samples)) == 200  # every (cell, sample index) exactly once
        assert replies == 200  # what the killed worker had half drawn was deleted, not kept beside the new replies
        engine.dispose()

        listed = cli(tmp_path, "experiment", "runs", "--json", SIMULACRA_DATABASE_URL=url)
        assert listed.returncode == 0, listed.stderr
        [shares] = [r["workers"] for r in json.loads(listed.stdout)]
        app_name = f"{socket.gethostname()}:{os.getpid()}/app"
        assert set(shares) <= {victim_name, survivor_name, app_name}, shares
        assert shares[victim_name] >= 3 and shares[survivor_name] > 0 and sum(shares.values()) == 200, shares


def test_the_worker_command_wants_postgresql(
    cli: Callable[..., subprocess.CompletedProcess[str]], tmp_path: Path
) -> None:
    result = cli(tmp_path, "experiment", "worker")
    assert result.returncode == 2
    assert one_error_line(result).startswith("error: experiment worker needs PostgreSQL")
