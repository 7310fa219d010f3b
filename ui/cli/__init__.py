"""The `simulacra` command. Each handler parses its arguments, calls one service function, and prints."""

from __future__ import annotations

import click

from ui.cli.common import Simulacra, configure_logging, reviewer_option
from ui.cli.conversations import ask, branch, list_conversations, serve
from ui.cli.db import db
from ui.cli.experiments import experiment
from ui.cli.lens import lens
from ui.cli.masks import masks
from ui.cli.models import models
from ui.cli.review import review
from ui.cli.transcripts import annotate, export, import_, search
from ui.cli.tree import tree
from ui.cli.vectors import vectors
from ui.cli.whois import whois


@click.group(cls=Simulacra, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", is_flag=True, help="Also show llama.cpp's log and other diagnostics on stderr.")
@reviewer_option
def main(verbose: bool) -> None:
    """Simulacra: base models wearing masks, side by side with chat models."""
    configure_logging(verbose)


for command in (serve, ask, branch, list_conversations, masks, models, export, import_, search, annotate):
    main.add_command(command)
main.add_command(db)
main.add_command(experiment)
main.add_command(review)
main.add_command(whois)
main.add_command(tree)
main.add_command(vectors)
main.add_command(lens)
