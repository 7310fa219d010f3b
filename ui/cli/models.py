"""`simulacra models`: the models lanes can use, and what the servers of remote base models say of themselves."""

from __future__ import annotations

import click

from ui.cli.common import settings
from ui.service.probes import probe_servers


@click.command(name="models")
@click.option("--probe", is_flag=True, help="Ask the servers of remote base models what they serve and return.")
def models(probe: bool) -> None:
    """List the bundled and configured models; API keys show as present or missing, never their values."""
    registry = settings().registry()
    problems = {result.status.name: result.error for result in probe_servers(registry)} if probe else {}
    for entry in registry.entries.values():
        status = registry.status(entry)
        context = str(status.context) if status.context else "unknown"
        click.echo(f"{status.name:<18} {status.kind:<9} {status.source}")
        where = f"  server: {status.api_base}" if status.api_base else ""
        click.echo(f"{'':<18} context {context}, API key {status.key}{where}")
        if problems.get(status.name):
            click.echo(f"{'':<18} probe failed: {problems[status.name]}")
        elif status.probe:
            click.echo(f"{'':<18} {status.probe}")
