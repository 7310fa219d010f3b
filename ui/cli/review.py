"""`simulacra review next|vote|leaderboard|export|questions`: blind pairwise review from the command line."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from ui.cli.common import USER_ERRORS, fail, force_option, reviewer, reviewer_option, settings, workspace, write_new
from ui.service.review.exports import JUDGEMENT_FORMATS, LEADERBOARD_FORMATS
from ui.service.review.service import BETTER, BY, Filters, Revealed, Review, ReviewQueue, parse_source

ANSWER_HELP = "KEY=left|right|both|neither, for each question of the set (see `review questions`)."


def _review() -> Review:
    current = settings()
    return Review(workspace(current).engine, current.data_dir / "questions")


def _reviewer() -> str:
    name = reviewer(settings())
    if not name:
        fail("review needs a reviewer name: give --reviewer NAME or set SIMULACRA_REVIEWER")
    return name


def _utc(value: datetime | None) -> datetime | None:
    return None if value is None else value.replace(tzinfo=UTC)


def _filters(judged_by: str | None, question_set: str | None, run: int | None, since: datetime | None,
             until: datetime | None) -> Filters:  # fmt: skip
    return Filters(reviewer=judged_by, question_set=question_set, run_id=run, since=_utc(since), until=_utc(until))


def filter_options(command: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed(
        [
            click.option("--judged-by", default=None, metavar="NAME", help="Only this reviewer's votes."),
            click.option("--question-set", default=None, metavar="NAME", help="Only votes with this set."),
            click.option("--run", type=int, default=None, metavar="ID", help="Only votes on this run's samples."),
            click.option("--since", type=click.DateTime(), default=None, help="Votes from this UTC time on."),
            click.option("--until", type=click.DateTime(), default=None, help="Votes before this UTC time."),
        ]
    ):
        command = option(command)
    return command


@click.group()
def review() -> None:
    """Blind pairwise review: judge two replies without knowing which lane wrote which."""


def _print_pair(queue: ReviewQueue) -> None:
    pair = queue.pair
    assert pair is not None
    click.echo(f"pair {pair.pair}  ({queue.done + 1} of {queue.total})\n")
    click.echo(f"prompt:\n{pair.prompt}\n")
    click.echo(f"--- left ---\n{pair.left}\n")
    click.echo(f"--- right ---\n{pair.right}\n")
    if pair.questions:
        click.echo(f"questions ({pair.question_set}; --answer KEY=left|right|both|neither):")
        for question in pair.questions:
            click.echo(f"  {question.key}: {question.text}")
    click.echo(f"\nvote: simulacra review vote {pair.pair} --better left|right|tie|bad")


@review.command(name="next")
@click.option("--source", default=None, help="conversation:ID, tag:TAG, lane:LABEL or run:ID (default: every reply).")
@click.option("--questions", "question_set", default="default", show_default=True, help="The question set.")
@click.option("--json", "as_json", is_flag=True)
@reviewer_option
def next_(source: str | None, question_set: str, as_json: bool) -> None:
    """The next pair to judge, without who wrote it."""
    name = _reviewer()
    try:
        queue = _review().next_pair(name, parse_source(source), question_set)
    except USER_ERRORS as e:
        fail(str(e))
    if as_json:
        data = queue.model_dump(mode="json")
        if queue.pair is None:
            data["message"] = "nothing left to review"
        click.echo(json.dumps(data, ensure_ascii=False, indent=2))
    elif queue.pair is None:
        click.echo(f"nothing left to review ({queue.done} of {queue.total} pairs judged by {name})")
    else:
        _print_pair(queue)


def _parse_answers(answers: tuple[str, ...]) -> dict[str, str]:
    parsed: dict[str, str] = {}
    for answer in answers:
        key, sign, value = answer.partition("=")
        if not sign or not key.strip():
            fail(f"--answer {answer!r}: expected KEY=left|right|both|neither")
        parsed[key.strip()] = value.strip()
    return parsed


def _side(identity: Revealed, side: str) -> str:
    who = getattr(identity, side)
    return f"{side}: {who.label} (model {who.model}, mask {who.mask or 'none'}, message {who.message_id})"


@review.command()
@click.argument("pair")
@click.option("--better", type=click.Choice(BETTER), required=True, help="bad: both replies are bad.")
@click.option("--answer", "answers", multiple=True, metavar="KEY=CHOICE", help=ANSWER_HELP)
@click.option("--note", default="")
@click.option("--questions", "question_set", default="default", show_default=True, help="The question set.")
@click.option("--json", "as_json", is_flag=True)
@reviewer_option
def vote(pair: str, better: str, answers: tuple[str, ...], note: str, question_set: str, as_json: bool) -> None:
    """Judge PAIR (from `review next`) as its reviewer saw it; then who wrote each side is shown."""
    name = _reviewer()
    parsed = _parse_answers(answers)
    try:
        revealed = _review().vote(
            pair, reviewer=name, better=better, answers=parsed, note=note, question_set=question_set
        )
    except USER_ERRORS as e:
        fail(str(e))
    if as_json:
        click.echo(revealed.model_dump_json(indent=2))
        return
    click.echo(f"saved judgement {revealed.judgement_id} on pair {pair}: {better}")
    click.echo(_side(revealed, "left"))
    click.echo(_side(revealed, "right"))


@review.command()
@click.option("--by", type=click.Choice(BY), default="lane", show_default=True)
@click.option("--format", "fmt", type=click.Choice(LEADERBOARD_FORMATS), default="md", show_default=True)
@click.option("--json", "as_json", is_flag=True, help="The same as --format json.")
@click.option("--resamples", type=click.IntRange(0, 100_000), default=1000, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True, help="The bootstrap's seed.")
@filter_options
def leaderboard(by: str, fmt: str, as_json: bool, resamples: int, seed: int, **filters: object) -> None:
    """Bradley–Terry strengths with 95% intervals, question rates, position bias and reviewer agreement."""
    service = _review()
    try:
        board = service.leaderboard(by, _filters(**filters), resamples=resamples, seed=seed)  # type: ignore[arg-type]
        text = service.export_leaderboard(board, "json" if as_json else fmt)
    except USER_ERRORS as e:
        fail(str(e))
    click.echo(text, nl=False)


@review.command()
@click.option("--format", "fmt", type=click.Choice(JUDGEMENT_FORMATS), required=True)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None, help="Write here, not stdout.")
@force_option
@filter_options
def export(fmt: str, out: Path | None, force: bool, **filters: object) -> None:
    """Judgements as csv or jsonl (with identities and texts), or DPO pairs (prompt, chosen, rejected)."""
    try:
        text = _review().export(fmt, _filters(**filters))  # type: ignore[arg-type]
    except USER_ERRORS as e:
        fail(str(e))
    if out is None:
        click.echo(text, nl=False)
        return
    write_new(out, text.encode("utf-8"), force=force)
    click.echo(f"wrote {out}", err=True)


@review.command()
@click.option("--import", "import_file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Check a question set's TOML file and add it to your sets.")  # fmt: skip
def questions(import_file: Path | None) -> None:
    """The question sets and their questions; --import adds one."""
    service = _review()
    try:
        if import_file is not None:
            added = service.import_question_set(import_file)
            click.echo(f"added question set {added.name} ({len(added.questions)} questions)")
            return
        sets = service.question_sets()
    except USER_ERRORS as e:
        fail(str(e))
    for question_set in sets:
        click.echo(f"{question_set.name}: {question_set.description}")
        for question in question_set.questions:
            click.echo(f"  {question.key}: {question.text}")
