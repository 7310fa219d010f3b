"""The `simulacra` command. Each handler parses its arguments, calls one service function, and prints."""

from __future__ import annotations

import click

from ui.cli.conversations import ask, branch, list_conversations, serve
from ui.cli.masks import masks
from ui.cli.transcripts import annotate, export, import_, search


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Simulacra: base models wearing masks, side by side with chat models."""


for command in (serve, ask, branch, list_conversations, masks, export, import_, search, annotate):
    main.add_command(command)
