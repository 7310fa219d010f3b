"""`simulacra export|import|search|annotate`: transcripts out of and into the database."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from sqlmodel import Session

from storage import exports, repo


def _session() -> Session:
    from ui.cli import _engine, _settings

    return Session(_engine(_settings()))


def _fail(message: str) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(2)


@click.command()
@click.argument("conversation_id", type=int, required=False)
@click.option("--all", "export_all", is_flag=True, help="Every conversation (json: a list; md/jsonl/dpo: joined).")
@click.option("--format", "fmt", type=click.Choice(sorted(exports.FORMATS)), default="json", show_default=True)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None, help="Write here, not stdout.")
def export(conversation_id: int | None, export_all: bool, fmt: str, out: Path | None) -> None:
    """Export a conversation: md (readable), json (everything), jsonl (OpenAI chat), dpo (preference pairs)."""
    if (conversation_id is None) == (not export_all):
        _fail("give a conversation id or --all")
    try:
        with _session() as session:
            ids = [conversation_id] if conversation_id is not None else [
                c.id for c in repo.list_conversations(session=session, limit=1_000_000)
            ]
            data = [repo.export_conversation(session=session, conversation_id=i) for i in ids]
    except repo.StorageError as e:
        _fail(str(e))
        return
    if fmt == "json":
        text = exports.to_json(data[0] if conversation_id is not None else data)
    else:
        # No pairs (dpo) or no paths (jsonl) is an empty file, not one blank line that JSONL readers reject.
        text = "".join(part.rstrip("\n") + "\n" for item in data if (part := exports.FORMATS[fmt](item)).strip())
    if out is None:
        click.echo(text, nl=False)
    else:
        out.write_text(text, encoding="utf-8")
        click.echo(f"wrote {out}", err=True)


@click.command(name="import")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
def import_(file: Path) -> None:
    """Restore a `json` export as a new conversation."""
    try:
        data = repo.load_export_file(file)
        with _session() as session:
            new_id = repo.import_conversation(session=session, data=data)
    except repo.StorageError as e:
        _fail(str(e))
        return
    click.echo(f"imported as conversation {new_id}")


@click.command()
@click.argument("query")
@click.option("--tag", default=None)
@click.option("--rating", type=int, default=None)
@click.option("--model", default=None)
@click.option("--mask", default=None)
@click.option("--sort", type=click.Choice(["newest", "most_annotated"]), default="newest", show_default=True)
@click.option("--limit", type=click.IntRange(1, 1000), default=20, show_default=True)
@click.option("--json", "as_json", is_flag=True)
def search(query: str, tag: str | None, rating: int | None, model: str | None, mask: str | None, sort: str,
           limit: int, as_json: bool) -> None:
    """Full-text search over messages, annotation notes and titles."""
    try:
        with _session() as session:
            hits = repo.search(session=session, query=query, tag=tag, rating=rating, model=model, mask=mask,
                               sort=sort, limit=limit)  # type: ignore[arg-type]
    except repo.StorageError as e:
        _fail(str(e))
        return
    if as_json:
        click.echo(json.dumps([h.model_dump(mode="json") for h in hits], ensure_ascii=False, indent=2))
        return
    for hit in hits:
        click.echo(f"{hit.conversation_id:>5}  {hit.title or '(untitled)'}\n       {hit.snippet}")


@click.command()
@click.argument("message_id", type=int)
@click.option("--tag", "tags", multiple=True, help="in-character, broke-character, refused, hallucinated, ...")
@click.option("--rating", type=click.IntRange(-1, 5), default=None)
@click.option("--note", default="")
def annotate(message_id: int, tags: tuple[str, ...], rating: int | None, note: str) -> None:
    """Tag, rate or note a reply."""
    try:
        with _session() as session:
            annotation = repo.add_annotation(session=session, message_id=message_id, tags=tags, rating=rating,
                                             note=note)
    except repo.StorageError as e:
        _fail(str(e))
        return
    click.echo(f"annotation {annotation.id} on message {message_id}")


COMMANDS = [export, import_, search, annotate]
