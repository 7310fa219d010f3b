"""`simulacra experiment ...`: list and show suites, run, stop, resume and replay them, report a run, and draw
queued runs as a worker."""

from __future__ import annotations

import json
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import click

from ui.cli.common import USER_ERRORS, fail, workspace
from ui.service.experiments.service import Experiments, Progress, ReplayReport
from ui.service.experiments.worker import CLAIM, Worker


def _service() -> Experiments:
    return Experiments.of(workspace())


@click.group(name="experiment")
def experiment() -> None:
    """Experiments: suites of prompts x lanes x seeded samples x scorers, with intervals and verdicts."""


@experiment.command(name="list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def list_suites(as_json: bool) -> None:
    """The built-in suites and yours."""
    suites, problems = _service().suites()
    rows = [{"name": s.name, "lanes": s.lanes, "samples": s.samples, "description": s.description} for s in suites]
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
    else:
        for row in rows:
            click.echo(f"{row['name']:<14} {row['description']}")
    for problem in problems:
        click.echo(f"note: {problem}", err=True)


@experiment.command()
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def show(name: str, as_json: bool) -> None:
    """One suite: its claim, lanes, prompts, scorers and expectations."""
    try:
        suite = _service().suite(name)
    except USER_ERRORS as e:
        fail(str(e))
    data = suite.model_dump(mode="json", exclude_none=True)
    data["expectations"] = [expectation.text for expectation in suite.expectations]
    if as_json:
        click.echo(json.dumps(data, ensure_ascii=False, indent=2))
        return
    click.echo(f"{suite.name}: {suite.description}\nclaim: {suite.claim}\nlanes: {', '.join(suite.lanes)}")
    click.echo(f"samples per cell: {suite.samples}, seeds from {suite.seed}")
    for i, prompt in enumerate(suite.prompts, 1):
        click.echo(f"prompt {i}: {prompt.last!r}")
    for scorer in suite.scorers:
        click.echo(f"scorer {scorer.name} ({scorer.kind}) {scorer.description}")
    for expectation in suite.expectations:
        click.echo(f"expect {expectation.text}")


def _follow(updates: Any, as_json: bool) -> Progress | None:
    last = None
    for update in updates:
        if isinstance(update, Progress):
            last = update
            if not as_json:
                click.echo(f"\r{update.samples_done}/{update.samples_total} samples", nl=False, err=True)
    if not as_json and last is not None:
        click.echo("", err=True)
    return last


def _print_report(service: Experiments, run_id: int, as_json: bool) -> None:
    report = service.report(run_id)
    click.echo(report.to_json() if as_json else report.to_markdown())
    if report.status != "complete":
        sys.exit(1)


@experiment.command()
@click.argument("suite")
@click.option("--samples", type=int, default=None, help="Samples per cell (1-1000; default: the suite's).")
@click.option("--lane", "lanes", multiple=True, metavar="SPEC", help="Run only these lanes (MODEL[@MASK]).")
@click.option("--judge", "judges", is_flag=True, help="Ask the suite's judge scorers' models to grade every sample.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def run(suite: str, samples: int | None, lanes: tuple[str, ...], judges: bool, as_json: bool) -> None:
    """Run SUITE (a name, or a .toml file) and print its report."""
    service = _service()
    try:
        run_id = service.start(service.suite(suite), samples=samples, lanes=list(lanes) or None, judges=judges)
        if not as_json:
            click.echo(f"run {run_id}", err=True)
        _follow(service.execute(run_id), as_json)
        _print_report(service, run_id, as_json)
    except USER_ERRORS as e:
        fail(str(e))


@experiment.command()
@click.option("--suite", default=None, help="Only the runs of this suite.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def runs(suite: str | None, as_json: bool) -> None:
    """The stored runs: id, suite, status and progress."""
    rows = _service().runs(suite)
    if as_json:
        click.echo(json.dumps([r.model_dump() for r in rows], ensure_ascii=False, indent=2))
        return
    for r in rows:
        shares = ", ".join(f"{name or 'unrecorded'} {n}" for name, n in r.workers.items())
        workers = f"  ({shares})" if len(r.workers) > 1 else ""
        click.echo(f"{r.id:>5}  {r.suite:<14} {r.status:<9} {r.samples_done}/{r.samples_total}{workers}")


@experiment.command()
@click.argument("run_id", type=int)
def stop(run_id: int) -> None:
    """Stop a queued or running run, whoever draws it: it keeps what it has and can be resumed."""
    try:
        _service().stop(run_id)
    except USER_ERRORS as e:
        fail(str(e))
    click.echo(f"run {run_id}: stop requested", err=True)


@experiment.command()
@click.option(
    "--idle-exit",
    type=click.FloatRange(min=0),
    default=None,
    metavar="SECONDS",
    help="Exit once no run has been queued or running for SECONDS (default: wait for runs until stopped).",
)
@click.option("--cells", type=click.IntRange(1, 64), default=CLAIM, show_default=True, help="Cells claimed at once.")
def worker(idle_exit: float | None, cells: int) -> None:
    """Draw queued runs with other workers and the app until Ctrl-C, which gives back what it holds
    (PostgreSQL)."""
    service = _service()
    if not service.shares_runs():
        fail(
            "experiment worker needs PostgreSQL (database_url): SQLite has one writer, and the app or"
            " `simulacra experiment run` draws each run itself"
        )
    drawer = service.worker(claim=cells)
    click.echo(f"worker {drawer.name}: drawing queued runs; Ctrl-C stops", err=True)
    try:
        with _stopped_by_signals(drawer):
            for _ in drawer.work(idle_exit=idle_exit):
                pass
    except USER_ERRORS as e:
        fail(str(e))
    click.echo(f"worker {drawer.name}: {drawer.drawn} samples drawn", err=True)


@contextmanager
def _stopped_by_signals(drawer: Worker) -> Iterator[None]:
    """Ctrl-C or SIGTERM (docker stop) ends the worker cleanly: what it holds is given back for others. A
    second Ctrl-C ends it at once."""

    def shut(signum: int, frame: Any) -> None:
        drawer.shutdown.set()
        drawer.wake.set()
        signal.signal(signum, saved[signal.Signals(signum)])

    saved = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    for s in saved:
        signal.signal(s, shut)
    try:
        yield
    finally:
        for s, handler in saved.items():
            signal.signal(s, handler)


@experiment.command()
@click.argument("run_id", type=int)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def resume(run_id: int, as_json: bool) -> None:
    """Finish a stopped or killed run: only its missing samples are drawn."""
    service = _service()
    try:
        _follow(service.resume(run_id), as_json)
        _print_report(service, run_id, as_json)
    except USER_ERRORS as e:
        fail(str(e))


@experiment.command()
@click.argument("run_id", type=int)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def replay(run_id: int, as_json: bool) -> None:
    """Run RUN_ID again on the same seeds and report the samples whose text or score differ."""
    service = _service()
    try:
        found = [u for u in service.replay(run_id) if isinstance(u, ReplayReport)]
    except USER_ERRORS as e:
        fail(str(e))
    result = found[-1].as_dict()
    labels = service.replay_differences(found[-1])
    result["differing"] = [{**d, "label": label} for d, label in zip(result["differing"], labels, strict=True)]
    if as_json:
        click.echo(json.dumps(result, ensure_ascii=False, indent=2))
    else:
        click.echo(
            f"replay {result['replay_id']} of run {run_id}: {result['differences']} of {result['compared']}"
            " samples differ"
        )
        for label in labels:
            click.echo(f"  {label}")
        if result["note"]:
            click.echo(f"Note: {result['note']}")
    if result["differences"]:
        sys.exit(1)


@experiment.command()
@click.argument("run_id", type=int)
@click.option("--format", "fmt", type=click.Choice(["md", "csv", "json"]), default="md", show_default=True)
def report(run_id: int, fmt: str) -> None:
    """A run's rates with intervals, verdicts and sample links, as Markdown, CSV or JSON."""
    try:
        result = _service().report(run_id)
    except USER_ERRORS as e:
        fail(str(e))
    click.echo({"md": result.to_markdown, "csv": result.to_csv, "json": result.to_json}[fmt](), nl=fmt != "csv")
