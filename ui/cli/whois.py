"""`simulacra whois`: who is speaking in a saved reply or a pasted text, by its likelihood under each mask."""

from __future__ import annotations

import json
import math
import sys

import click

from ui.cli.common import USER_ERRORS, fail, settings, workspace
from ui.service.inside import whois as service

SHOWN = 10  # stretches of the heat map printed, the ones that part the two likeliest masks most


@click.command()
@click.argument("message_id", type=int, required=False)
@click.option("--mask", "masks", multiple=True, metavar="MASK", help="A mask to score the text under (repeat it).")
@click.option("--text", "pasted", default=None, help="Score this text instead of a saved reply ('-': read stdin).")
@click.option("--user", default=None, help="With --text: the user's message the text answers.")
@click.option("--model", default=None, help="The base model that scores (default: the reply's, else the first).")
@click.option("--prior", "priors", multiple=True, metavar="MASK=WEIGHT", help="A prior weight (default: uniform).")
@click.option("--json", "as_json", is_flag=True, help="Per mask: the document read, the text, each token's logprob.")
def whois(
    message_id: int | None,
    masks: tuple[str, ...],
    pasted: str | None,
    user: str | None,
    model: str | None,
    priors: tuple[str, ...],
    as_json: bool,
) -> None:
    """Who is speaking? P(mask | text) from the text's likelihood after each mask's document.

    simulacra whois 12 --mask assistant --mask raw --mask rogue-ai
    """
    if (message_id is None) == (pasted is None):
        fail("give a MESSAGE_ID or --text (one of them)")
    prior = _prior(priors)
    current = settings()
    try:
        space = workspace(current).conversations
        if pasted is not None:
            given = sys.stdin.read() if pasted == "-" else pasted
            result = service.text(space, given, list(masks), user=user, model=model, prior=prior)
        else:
            assert message_id is not None
            result = service.reply(space, message_id, list(masks), model=model, prior=prior)
    except USER_ERRORS as e:
        fail(str(e))
    if as_json:
        click.echo(json.dumps(result.model_dump(mode="json"), ensure_ascii=False, indent=2))
        return
    _show(result)


def _prior(priors: tuple[str, ...]) -> dict[str, float]:
    out: dict[str, float] = {}
    for item in priors:
        name, _, weight = item.partition("=")
        try:
            out[name] = float(weight)
        except ValueError:
            fail(f"--prior {item!r}: write MASK=WEIGHT, e.g. --prior assistant=2")
    return out


def _show(result: service.WhoIs) -> None:
    what = f"message {result.message_id}" if result.message_id is not None else "the text"
    worn = f" (its lane wore {result.worn})" if result.worn else ""
    click.echo(f"who is speaking in {what}{worn}? scored by {result.model}")
    if result.notice:
        click.echo(f"note: {result.notice}")
    for rank, reading in enumerate(result.masks, start=1):
        click.echo(
            f"  {rank}. {reading.mask:<22} P(mask | text) {reading.posterior:.3f}"
            f"   log P(text | mask) {reading.logprob:9.2f}   prior {reading.prior:.3f}"
        )
    if len(result.masks) < 2 or not result.heat:
        return
    first, second = result.masks[0].mask, result.masks[1].mask
    total = sum(cell.llr for cell in result.heat)
    click.echo(f"where {first} and {second} part: log P({first}) - log P({second}) = {total:+.2f} over the text;")
    click.echo("the stretches that part them most (+ favours the first):")
    parting = sorted(result.heat, key=lambda cell: -abs(cell.llr))[:SHOWN]
    for cell in sorted(parting, key=result.heat.index):
        if math.isfinite(cell.llr):
            click.echo(f"  {cell.llr:+8.2f}  {cell.text!r}")
