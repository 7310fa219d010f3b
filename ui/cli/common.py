"""What every command shares: the one way to fail with a message, and the settings and services it runs on."""

from __future__ import annotations

import os
import sys
import tomllib
from typing import NoReturn

import click
from pydantic import ValidationError

from ui.service.errors import USER_ERRORS
from ui.service.settings import Settings, load_dotenv_keys
from ui.service.workspace import Workspace

__all__ = ["USER_ERRORS", "fail", "settings", "workspace"]


def fail(message: str) -> NoReturn:
    """One `error: ...` line on stderr and exit code 2: bad input, never a traceback."""
    click.echo(f"error: {message}", err=True)
    sys.exit(2)


def settings() -> Settings:
    load_dotenv_keys()
    try:
        return Settings()
    except (tomllib.TOMLDecodeError, UnicodeDecodeError, OSError) as e:
        fail(f"cannot read {os.environ.get('SIMULACRA_CONFIG', 'simulacra.toml')}: {e}")
    except ValidationError as e:
        problems = "; ".join(f"{'.'.join(map(str, p['loc'])) or 'settings'}: {p['msg']}" for p in e.errors())
        fail(f"invalid settings (SIMULACRA_* variables, .env or simulacra.toml): {problems}")


def workspace(current: Settings | None = None) -> Workspace:
    """The settings' database and models; a database that cannot be opened ends the command with one line."""
    try:
        return Workspace.open(current or settings())
    except USER_ERRORS as e:
        fail(str(e))
