"""`simulacra export|import|search|annotate`: transcripts out of and into the database."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from ui.cli.common import USER_ERRORS, fail, force_option, reviewer, reviewer_option, settings, workspace, write_new
from ui.service.transcripts.exports import FORMATS
from ui.service.transcripts.service import RATINGS, Query


@click.command()
@click.argument("conversation_id", type=int, required=False)
@click.option("--all", "export_all", is_flag=True, help="Every conversation (json: a list; md/jsonl/dpo: joined).")
@click.option("--format", "fmt", type=click.Choice(sorted(FORMATS)), default="json", show_default=True)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None, help="Write here, not stdout.")
@force_option
def export(conversation_id: int | None, export_all: bool, fmt: str, out: Path | None, force: bool) -> None:
    """Export a conversation: md (readable), json (everything), jsonl (OpenAI chat), dpo (preference pairs)."""
    if (conversation_id is None) == (not export_all):
        fail("give a conversation id or --all")
    transcripts = workspace().transcripts
    try:
        ids = [conversation_id] if conversation_id is not None else transcripts.all_ids()
        text = transcripts.export(ids, fmt, as_list=export_all)
        reason = None if text else transcripts.empty_because(ids, fmt)
    except USER_ERRORS as e:
        fail(str(e))
    if reason is not None:
        # Nothing to write: say why instead of leaving an empty file, and exit 1 as grep does when nothing matched.
        click.echo(f"error: {reason}", err=True)
        sys.exit(1)
    if out is None:
        click.echo(text, nl=False)
    else:
        write_new(out, text.encode("utf-8"), force=force)
        click.echo(f"wrote {out}", err=True)


@click.command(name="import")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
def import_(file: Path) -> None:
    """Restore a `json` export as a new conversation."""
    try:
        new_id = workspace().transcripts.import_file(file)
    except USER_ERRORS as e:
        fail(str(e))
    click.echo(f"imported as conversation {new_id}")


@click.command()
@click.argument("query")
@click.option("--tag", default=None)
@click.option("--rating", type=int, default=None, help="-1, 0 or +1.")
@click.option("--model", default=None)
@click.option("--mask", default=None)
@click.option("--sort", type=click.Choice(["newest", "most_annotated"]), default="newest", show_default=True)
@click.option("--limit", type=click.IntRange(1, 1000), default=20, show_default=True)
@click.option("--json", "as_json", is_flag=True)
def search(
    query: str,
    tag: str | None,
    rating: int | None,
    model: str | None,
    mask: str | None,
    sort: str,
    limit: int,
    as_json: bool,
) -> None:
    """Full-text search over messages, annotation notes and titles."""
    wanted = Query(query=query, tag=tag, rating=rating, model=model, mask=mask)
    try:
        hits = workspace().transcripts.search(wanted, sort=sort, limit=limit)  # type: ignore[arg-type]
    except USER_ERRORS as e:
        fail(str(e))
    if as_json:
        click.echo(json.dumps([h.model_dump(mode="json") for h in hits], ensure_ascii=False, indent=2))
        return
    for hit in hits:
        click.echo(f"{hit.conversation_id:>5}  {hit.title or '(untitled)'}\n       {hit.snippet}")


@click.command()
@click.argument("message_id", type=int)
@click.option("--tag", "tags", multiple=True, help="in-character, broke-character, refused, hallucinated, ...")
@click.option("--rating", type=int, default=None, help="-1 (bad), 0 or +1 (good).")
@click.option("--note", default="")
@reviewer_option
def annotate(message_id: int, tags: tuple[str, ...], rating: int | None, note: str) -> None:
    """Tag, rate or note a reply, signed with the reviewer name."""
    if rating is not None and rating not in RATINGS:
        fail(f"--rating is -1, 0 or +1, not {rating}")
    current = settings()
    signed = reviewer(current)
    try:
        transcripts = workspace(current).transcripts
        annotation = transcripts.annotate(message_id=message_id, tags=tags, rating=rating, note=note, reviewer=signed)
    except USER_ERRORS as e:
        fail(str(e))
    click.echo(f"annotation {annotation.id} on message {message_id}" + (f" by {signed}" if signed else ""))
