"""`simulacra vectors ...`: the persona directions in the database: list them, show one with its per-layer AUC table
and provenance, export one as the control-vector GGUF llama-server loads (printing the command that does), and
import such a file made elsewhere."""

from __future__ import annotations

import json
import re
from pathlib import Path

import click

from ui.cli.common import USER_ERRORS, fail, force_option, workspace
from ui.service.vectors.views import DirectionView

_LAYERS = re.compile(r"^(\d+)(?:-(\d+))?$")


@click.group()
def vectors() -> None:
    """Persona directions: list, show, export and import them (a suite run computes them)."""


@vectors.command(name="list")
@click.option("--json", "as_json", is_flag=True, help="Every direction with its provenance, as JSON.")
def vectors_list(as_json: bool) -> None:
    """Each direction's newest version: its model, best layer and held-out AUC there."""
    try:
        found = workspace().vectors.list()
    except USER_ERRORS as e:
        fail(str(e))
    if as_json:
        click.echo(json.dumps([d.model_dump(mode="json") for d in found], ensure_ascii=False, indent=2))
        return
    if not found:
        click.echo("no directions yet: the assistant-axis suite computes one (simulacra experiment run assistant-axis)")
        return
    for direction in found:
        click.echo(
            f"{direction.name:<22} {direction.model_name:<10} best layer {direction.best_layer:<3}"
            f" AUC {_auc(direction)}   {_sign(direction)}"
        )


@vectors.command(name="show")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="The direction's provenance, as JSON.")
def vectors_show(name: str, as_json: bool) -> None:
    """A direction: where it came from, and how well each layer's projection separates its two masks."""
    try:
        direction = workspace().vectors.show(name)
    except USER_ERRORS as e:
        fail(str(e))
    if as_json:
        click.echo(json.dumps(direction.model_dump(mode="json"), ensure_ascii=False, indent=2))
        return
    _show(direction)


@vectors.command(name="export")
@click.argument("name")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True, help="The .gguf file to write.")
@click.option("--scale", type=float, default=1.0, show_default=True, help="The strength α the file steers with.")
@click.option("--layers", default=None, metavar="A-B", help="The layers to steer (default: the best layer).")
@force_option
def vectors_export(name: str, out: Path, scale: float, layers: str | None, force: bool) -> None:
    """Write a direction as a control-vector GGUF and print the llama-server command that steers with it.

    simulacra vectors export assistant-axis --out axis.gguf --scale -4 --layers 6-8
    """
    if out.exists() and not force:
        fail(f"{out} already exists; pass --force to replace it")
    try:
        exported = workspace().vectors.export(name, out, scale=scale, layers=_layers(layers))
    except USER_ERRORS as e:
        fail(str(e))
    where = (
        f"layer {exported.first_layer}"
        if exported.first_layer == exported.last_layer
        else (f"layers {exported.first_layer}-{exported.last_layer}")
    )
    click.echo(f"wrote {exported.path}: {name} × {exported.scale:g} on {where}. A llama-server steered with it:")
    click.echo(f"  {exported.command}")


@vectors.command(name="import")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--name", required=True, help="The name to save it under (the newest of a name wins).")
@click.option("--model", default="base", show_default=True, help="The in-process base model the file was made for.")
def vectors_import(file: Path, name: str, model: str) -> None:
    """Save a control-vector GGUF made elsewhere (llama.cpp's cvector-generator, an export) as a direction.

    simulacra vectors import happy.gguf --name happy
    """
    try:
        direction = workspace().vectors.import_file(file, name, model)
    except USER_ERRORS as e:
        fail(str(e))
    click.echo(
        f"saved {direction.name} for {direction.model_name}; it adds the most to layer {direction.best_layer}."
        f" Steer with --steer {direction.name}:1 (α = 1 adds it as the file holds it)"
    )


def _layers(text: str | None) -> tuple[int, int] | None:
    if text is None:
        return None
    match = _LAYERS.match(text.strip())
    if match is None:
        fail(f"--layers {text!r}: write FIRST-LAST or one LAYER, e.g. --layers 6-8")
    first = int(match[1])
    return first, int(match[2]) if match[2] is not None else first


def _auc(direction: DirectionView) -> str:
    best = direction.best
    if best is None or best.auc is None:
        return "n/a"
    interval = "" if best.low is None or best.high is None else f" [{best.low:.2f}, {best.high:.2f}]"
    return f"{best.auc:.2f}{interval}"


def _sign(direction: DirectionView) -> str:
    if direction.toward and direction.away:
        return f"{direction.toward} − {direction.away}"
    return ""


def _show(direction: DirectionView) -> None:
    click.echo(f"{direction.name} (direction {direction.id}, saved {direction.created_at:%Y-%m-%d %H:%M} UTC)")
    click.echo(f"  model      {direction.model_name} (sha256 {direction.model_sha256[:12]}…)")
    click.echo(f"  vector     sha256 {direction.vector_sha256[:12]}…, {direction.n_layer} layers of {direction.n_embd}")
    if direction.toward and direction.away:
        click.echo(
            f"  direction  mean({direction.toward}) − mean({direction.away}): α > 0 pushes toward {direction.toward}"
        )
    if direction.suite:
        run = f", run {direction.run_id}" if direction.run_id is not None else ""
        click.echo(f"  from       suite {direction.suite}{run}")
    if direction.n:
        click.echo("  replies    " + ", ".join(f"{mask} {count}" for mask, count in direction.n.items()))
    click.echo(f"  prompts    {len(direction.prompts)} to fit, {len(direction.held_out)} held out")
    first, last = direction.steerable
    click.echo(f"  best layer {direction.best_layer} (steerable: {first} to {last})")
    if direction.layers:
        click.echo("  layer   AUC    95% interval")
        for row in direction.layers:
            best = "  ← best" if row.layer == direction.best_layer else ""
            auc = "  n/a" if row.auc is None else f"{row.auc:.3f}"
            interval = "" if row.low is None or row.high is None else f"[{row.low:.3f}, {row.high:.3f}]"
            click.echo(f"  {row.layer:>5}   {auc}  {interval}{best}")
