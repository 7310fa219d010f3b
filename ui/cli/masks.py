"""`simulacra masks ...`: show, render, import and export masks and character cards."""

from __future__ import annotations

import json
from pathlib import Path

import click

from personas.cards.files import MAX_CARD_BYTES, export_card_json, export_card_png
from personas.catalog import list_masks, load_mask, mask_to_toml, user_mask_problems
from personas.importing import import_into_library
from personas.mask import HistoryTurn, MaskError
from ui.cli.common import USER_ERRORS, fail, force_option, settings, workspace, write_new


@click.group()
def masks() -> None:
    """The mask library and character cards."""


@masks.command(name="list")
@click.option("--json", "as_json", is_flag=True)
def masks_list(as_json: bool) -> None:
    """List built-in and user masks with what each shows; a broken mask file is skipped with a warning."""
    user_dir = settings().resolved_masks_dir
    found = list_masks(user_dir)
    for problem in user_mask_problems(user_dir):  # stderr: stdout stays the list (or valid JSON)
        click.echo(f"warning: {' '.join(str(problem).split())} (skipped)", err=True)
    if as_json:
        rows = [m.model_dump(mode="json", exclude={"card", "card_image"}) for m in found]
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    for mask in found:
        click.echo(f"{mask.name:<22} {mask.shows}")


@masks.command(name="show")
@click.argument("name")
def masks_show(name: str) -> None:
    """Print a mask as TOML."""
    try:
        click.echo(mask_to_toml(load_mask(name, settings().resolved_masks_dir)))
    except MaskError as e:
        fail(str(e))


@masks.command(name="render")
@click.argument("name")
@click.option("--user", "user_text", default=None, help="The user's message (default: 'Hello!').")
@click.option(
    "--conversation",
    "conversation_id",
    type=int,
    default=None,
    help="Render this conversation's current path instead (its first lane's replies).",
)
def masks_render(name: str, user_text: str | None, conversation_id: int | None) -> None:
    """Print the exact document the simulator reads."""
    current = settings()
    try:
        mask = load_mask(name, current.resolved_masks_dir)
        if conversation_id is not None:
            history = workspace(current).conversations.history(conversation_id)
            if user_text:
                history.append(HistoryTurn(role="user", text=user_text))
        else:
            history = [HistoryTurn(role="user", text=user_text or "Hello!")]
    except USER_ERRORS as e:
        fail(str(e))
    click.echo(mask.render(history))
    for forged in mask.forged_lines(history):
        # stderr: stdout stays the exact document, ready to pipe into another tool.
        click.echo(
            f"note: quoted a line that opens with a speaker tag: {forged.line!r} -> {forged.written!r}", err=True
        )


@masks.command(name="import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def masks_import(file: Path) -> None:
    """Import a character card (JSON or PNG, V1/V2/V3) or a mask TOML file as a user mask.

    A mask of the same name is never overwritten: the import takes the next free name (`aqua-2`).
    """
    current = settings()
    try:
        if file.stat().st_size > MAX_CARD_BYTES:  # refused before reading, whatever the file claims to be
            raise MaskError(f"{file.name}: file is {file.stat().st_size} bytes; the limit is 20 MB")
        mask, path = import_into_library(file.read_bytes(), file.name, current.resolved_masks_dir)
    except OSError as e:
        fail(f"cannot read {file}: {e}")
    except MaskError as e:
        fail(str(e))
    click.echo(f"imported mask '{mask.name}' to {path}")


@masks.command(name="export")
@click.argument("name")
@click.option(
    "--format", "fmt", type=click.Choice(["toml", "card-json", "card-png"]), default="toml", show_default=True
)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True)
@force_option
def masks_export(name: str, fmt: str, out: Path, force: bool) -> None:
    """Write a mask as TOML, a JSON character card (V2; an imported V3 card stays V3), or a PNG card."""
    try:
        mask = load_mask(name, settings().resolved_masks_dir)
        data = {
            "toml": lambda: mask_to_toml(mask).encode("utf-8"),
            "card-json": lambda: export_card_json(mask),
            "card-png": lambda: export_card_png(mask),
        }[fmt]()
    except (MaskError, OSError) as e:
        fail(str(e))
    write_new(out, data, force=force)
    click.echo(f"wrote {out}")
