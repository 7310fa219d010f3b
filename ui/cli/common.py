"""What every command shares: the one way to fail with a message, the settings and services it runs on, and the
`simulacra` group that refuses undecodable arguments and words a refusing database, whichever command met it."""

from __future__ import annotations

import functools
import logging
import os
import sys
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

import click
from pydantic import ValidationError

from simulator.logs import LLAMA_LOGGER
from ui.cli.output import printable_output
from ui.service.errors import DATABASE_ERRORS, USER_ERRORS, database_problem
from ui.service.settings import Settings, load_dotenv_keys
from ui.service.transcripts.service import check_reviewer
from ui.service.workspace import Workspace, database_name

__all__ = [
    "USER_ERRORS",
    "Simulacra",
    "fail",
    "force_option",
    "reviewer",
    "reviewer_option",
    "settings",
    "workspace",
    "write_new",
]

_DATABASE = "simulacra.database"  # the click meta key: which database this command opened, for its messages
_REVIEWER = "simulacra.reviewer"  # the click meta key: the group's --reviewer, for the commands under it


def fail(message: str) -> NoReturn:
    """One `error: ...` line on stderr and exit code 2: bad input, never a traceback."""
    click.echo(f"error: {message}", err=True)
    sys.exit(2)


def write_new(out: Path, data: bytes, *, force: bool) -> None:
    """Write `data` to `out` (--out). An existing file is replaced only with --force: a mistyped path must not
    overwrite a file without a word, and a link planted at `out` is not followed unless --force says so."""
    try:
        with out.open("wb" if force else "xb") as f:
            f.write(data)
    except FileExistsError:
        fail(f"{out} already exists; pass --force to replace it")
    except FileNotFoundError:
        fail(f"cannot write {out}: the folder {out.parent} does not exist")
    except OSError as e:
        fail(f"cannot write {out}: {e.strerror or e}")


def force_option(command: Callable[..., Any]) -> Callable[..., Any]:
    """`--force`, for the commands that write a file with --out."""
    return click.option("--force", is_flag=True, help="Replace the --out file if it exists.")(command)


def settings() -> Settings:
    load_dotenv_keys()
    try:
        return Settings()
    except (tomllib.TOMLDecodeError, UnicodeDecodeError, OSError) as e:
        fail(f"cannot read {os.environ.get('SIMULACRA_CONFIG', 'simulacra.toml')}: {e}")
    except ValidationError as e:
        problems = "; ".join(
            f"{'.'.join(map(str, p['loc'])) or 'settings'}: {p['msg'].removeprefix('Value error, ')}"
            for p in e.errors()
        )
        fail(f"invalid settings (SIMULACRA_* variables, .env or simulacra.toml): {problems}")


def workspace(current: Settings | None = None) -> Workspace:
    """The settings' database and models; a database that cannot be opened ends the command with one line."""
    current = current or settings()
    context = click.get_current_context(silent=True)
    if context is not None:
        context.meta[_DATABASE] = database_name(current.resolved_database_url)
    try:
        return Workspace.open(current)
    except USER_ERRORS as e:
        fail(str(e))


def _take_reviewer(context: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    # Checked as it is parsed, so a bad name is one line before any work; the last one given wins.
    if value is None:
        return None
    try:
        name = check_reviewer(value)
    except USER_ERRORS as e:
        fail(f"--reviewer: {e}")
    context.meta[_REVIEWER] = name
    return name


def reviewer_option(command: Callable[..., Any]) -> Callable[..., Any]:
    """`--reviewer NAME`, for the group and for the commands that sign what they write."""
    return click.option(
        "--reviewer",
        default=None,
        metavar="NAME",
        expose_value=False,
        is_eager=True,
        callback=_take_reviewer,
        help="Sign annotations with this name (default: SIMULACRA_REVIEWER).",
    )(command)


def reviewer(current: Settings) -> str | None:
    """The reviewer name this command signs with: --reviewer (the command's, else the group's), else the
    settings' SIMULACRA_REVIEWER, else none."""
    context = click.get_current_context(silent=True)
    given = context.meta.get(_REVIEWER) if context is not None else None
    return given or current.reviewer


def configure_logging(verbose: bool) -> None:
    """Warnings to stderr; llama.cpp's own log (which it writes on every model load) only with --verbose."""
    logging.basicConfig(stream=sys.stderr, level=logging.WARNING, format="%(name)s: %(message)s")
    if verbose:
        for name in ("simulacra", "simulator", "personas", "storage", "ui"):  # ours; not every library's debug
            logging.getLogger(name).setLevel(logging.DEBUG)
    else:
        logging.getLogger(LLAMA_LOGGER).setLevel(logging.CRITICAL + 1)


class Simulacra(click.Group):
    """The `simulacra` group. Every command added to it refuses arguments that are not valid UTF-8 before it
    runs, and a database that refuses a write (read-only, locked, full) ends any command with one line."""

    def add_command(self, cmd: click.Command, name: str | None = None) -> None:
        _refuse_undecodable(cmd)
        super().add_command(cmd, name)

    def invoke(self, ctx: click.Context) -> Any:
        with printable_output():
            try:
                return super().invoke(ctx)
            except DATABASE_ERRORS as e:
                fail(database_problem(e, ctx.meta.get(_DATABASE, "in use")))


def _refuse_undecodable(command: click.Command) -> None:
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            _refuse_undecodable(sub)
    elif command.callback is not None and not getattr(command.callback, "_checks_utf8", False):
        command.callback = _checking_utf8(command.callback)


def _checking_utf8(callback: Callable[..., Any]) -> Callable[..., Any]:
    # Python decodes argv with surrogateescape: a byte that is not UTF-8 arrives as a lone surrogate, which
    # the database then refuses with a UnicodeEncodeError half-way through a command. Paths are exempt: the
    # file system takes such names as they are.
    @functools.wraps(callback)
    def checked(*args: Any, **kwargs: Any) -> Any:
        for param in click.get_current_context().command.params:
            if isinstance(param.type, click.Path | click.File) or param.name not in kwargs:
                continue
            value = kwargs[param.name]
            values = value if isinstance(value, tuple) else (value,)  # an option given many times is a tuple
            if any(isinstance(v, str) and _has_lone_surrogate(v) for v in values):
                name = param.opts[0] if isinstance(param, click.Option) else param.human_readable_name
                fail(f"{name} is not valid UTF-8: check the terminal's or the script's encoding")
        return callback(*args, **kwargs)

    checked._checks_utf8 = True  # type: ignore[attr-defined]
    return checked


def _has_lone_surrogate(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False
