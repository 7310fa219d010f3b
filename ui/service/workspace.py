"""One process's view of Simulacra: its settings, database and models, and the services built on them.
The web app keeps one per process; each CLI command opens one."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from personas.catalog import list_masks
from personas.mask import Mask
from simulator.registry import ModelStatus, Registry
from storage.db import make_engine
from ui.service.conversations.service import Conversations
from ui.service.errors import ServiceError, first_line, known_database_problem
from ui.service.settings import Settings
from ui.service.transcripts.service import Transcripts
from ui.service.vectors.service import Vectors


def open_database(url: str) -> Engine:
    """The database at `url`, migrated to the current schema.

    Raises:
        ServiceError: it cannot be opened; the message names it (without a password) and what to check, or
            the package to install when the URL names a driver that is not installed.
    """
    where = database_name(url)
    try:
        _check_synchronous(url)
        return make_engine(url)
    except ImportError as e:
        raise ServiceError(_missing_driver(url, e)) from e
    except (OSError, SQLAlchemyError) as e:
        known = known_database_problem(e, where) or postgresql_problem(e, url)
        raise ServiceError(
            known
            or f"cannot open the database {where}: {first_line(e)}. Check SIMULACRA_DATA_DIR or SIMULACRA_DATABASE_URL"
        ) from e


def database_name(url: str) -> str:
    """How messages name the database: the file of a SQLite URL, any other URL without its password."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        return repr(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database:
        return parsed.database
    return parsed.render_as_string(hide_password=True)


# What a PostgreSQL server or libpq says when a connection fails (psycopg gives these no SQLSTATE) -> what to check.
_POSTGRESQL_PROBLEMS = (
    ("password authentication failed", "the server refused the user name or password"),
    ("no password supplied", "the server wants a password and the URL has none"),
    ("no pg_hba.conf entry", "the server does not accept this user from this host (pg_hba.conf)"),
    ("does not exist", "{detail}: create it, or name another in the URL"),
    ("connection refused", "nothing accepts connections at {host}:{port}: check that the server runs"),
    ("timeout expired", "no answer from {host}:{port} within the connect timeout"),
    ("failed to resolve host", "the host name {host} is unknown"),
    ("could not translate host name", "the host name {host} is unknown"),
)


def postgresql_problem(error: BaseException, url: str) -> str | None:
    """One line for a PostgreSQL connection that failed (wrong password, no such database, nothing listening),
    naming the database without its password and the setting to change; None for anything else."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        return None
    if parsed.get_backend_name() != "postgresql":
        return None
    message = first_line(error)
    detail = message.split("FATAL:", 1)[-1].strip()
    for clue, problem in _POSTGRESQL_PROBLEMS:
        if clue in message.lower():
            said = problem.format(detail=detail, host=parsed.host or "localhost", port=parsed.port or 5432)
            return f"cannot connect to the database {database_name(url)}: {said} (check SIMULACRA_DATABASE_URL)"
    return None


# What to install for the drivers SQLAlchemy imports by default, where the package is not the module's name.
_DRIVER_PACKAGES = {"psycopg": "psycopg[binary]", "psycopg2": "psycopg2-binary", "MySQLdb": "mysqlclient"}


def _missing_driver(url: str, error: ImportError) -> str:
    module = (error.name or str(error)).split(".")[0]
    package = _DRIVER_PACKAGES.get(module, module)
    return f"the database {database_name(url)} needs {module}, which is not installed: pip install '{package}'"


def _check_synchronous(url: str) -> None:
    # The app talks to its database from plain threads: an asyncio driver (postgresql+asyncpg, sqlite+aiosqlite)
    # would only fail later, on the first query, with a message about greenlets.
    parsed = make_url(url)
    if getattr(parsed.get_dialect(), "is_async", False):
        backend = parsed.get_backend_name()
        instead = (
            "postgresql+psycopg:// (pip install 'psycopg[binary]')" if backend == "postgresql" else f"{backend}://"
        )
        raise ServiceError(
            f"{parsed.drivername} is an asyncio driver and Simulacra needs a synchronous one: use {instead}"
        )


@dataclass
class Workspace:
    settings: Settings
    engine: Engine
    registry: Registry

    @classmethod
    def open(cls, settings: Settings, registry: Registry | None = None) -> Workspace:
        """Raises ServiceError when the database cannot be opened."""
        return cls(settings, open_database(settings.resolved_database_url), registry or settings.registry())

    @property
    def conversations(self) -> Conversations:
        return Conversations(
            self.engine, self.registry, self.settings.resolved_masks_dir, lease_s=self.settings.turn_lease_s
        )

    @property
    def transcripts(self) -> Transcripts:
        return Transcripts(self.engine)

    @property
    def vectors(self) -> Vectors:
        """The persona directions: saved, shown, exported, and resolved into a lane's steering."""
        return Vectors(self.engine, self.registry)

    def masks(self) -> list[Mask]:
        """The mask library: built-in masks, then the user's."""
        return list_masks(self.settings.resolved_masks_dir)

    def model_statuses(self) -> list[ModelStatus]:
        return [self.registry.status(entry) for entry in self.registry.entries.values()]

    def model_status(self, model: str) -> ModelStatus:
        """Any model a lane could name, registered or a litellm string.

        Raises:
            ModelUnavailable: neither a registered name nor a model litellm knows how to reach.
        """
        return self.registry.status(self.registry.resolve(model))
