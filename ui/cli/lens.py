"""`simulacra lens`: the logit lens at one token of a saved base reply: each layer's top tokens."""

from __future__ import annotations

import json

import click

from ui.cli.common import USER_ERRORS, fail, workspace
from ui.service.inside.lens import MAX_TOP, Lenses


@click.command()
@click.argument("message_id", type=int)
@click.option("--token", "index", type=int, required=True, help="The reply's token to look at (0: its first).")
@click.option("-k", "k", type=int, default=5, show_default=True, help=f"Top tokens per layer (1–{MAX_TOP}).")
@click.option("--json", "as_json", is_flag=True, help="Every layer's top tokens and the token's p and rank, as JSON.")
def lens(message_id: int, index: int, k: int, as_json: bool) -> None:
    """What each layer would have predicted for token N of reply MESSAGE_ID (the logit lens).

    simulacra lens 12 --token 3
    """
    try:
        view = Lenses(workspace().conversations).for_reply(message_id, index, k)
    except USER_ERRORS as e:
        fail(str(e))
    if as_json:
        click.echo(json.dumps(view.as_json(), ensure_ascii=False, indent=2))
        return
    click.echo(
        f"{view.lane}, reply {view.message_id}, token {view.index}: {json.dumps(view.actual, ensure_ascii=False)}"
    )
    for layer in view.layers:
        top = "  ".join(f"{json.dumps(text, ensure_ascii=False)} {p:.3f}" for text, p in layer.top)
        flag = "  (early layer: unreliable)" if layer.unreliable else ""
        click.echo(f"layer {layer.layer:>2}: rank {layer.actual_rank:>6}, p {layer.actual_p:.3f} | {top}{flag}")
