"""`simulacra db upgrade|copy`: the database itself, migrated or copied into another."""

from __future__ import annotations

import click

from ui.cli.common import USER_ERRORS, fail, settings
from ui.service.database import copy_database, upgrade_database


@click.group()
def db() -> None:
    """The database (database_url or SIMULACRA_DATABASE_URL): migrate it, or copy it into another."""


@db.command()
def upgrade() -> None:
    """Bring the database to the current schema and print its revision."""
    try:
        done = upgrade_database(settings().resolved_database_url)
    except USER_ERRORS as e:
        fail(str(e))
    click.echo(f"{done.database} is at revision {done.revision}")


@db.command()
@click.option("--to", "target", required=True, metavar="URL", help="The database to copy into (migrated first).")
def copy(target: str) -> None:
    """Copy every conversation, with its lanes, messages and annotations, into another database (new ids)."""
    try:
        done = copy_database(settings().resolved_database_url, target)
    except USER_ERRORS as e:
        fail(str(e))
    c = done.counts
    click.echo(
        f"copied {c.conversations} conversations ({c.lanes} lanes, {c.messages} messages, {c.annotations} annotations)"
        f" from {done.source} to {done.target}"
    )
