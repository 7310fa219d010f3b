"""The errors a front end shows as one line and goes on: every domain error meant for a person, and the words
for a database that refuses to be read or written."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.exc import OperationalError

from personas.mask import MaskError
from simulator.errors import LaneSpecError, SimulacraError
from storage.errors import NotFound, StorageError

__all__ = [
    "DATABASE_ERRORS",
    "USER_ERRORS",
    "LaneSpecError",
    "NotFound",
    "ServiceError",
    "SimulacraError",
    "database_problem",
    "known_database_problem",
]


class ServiceError(SimulacraError):
    """Something the user asked for that cannot be done as asked: the message says what to change."""


USER_ERRORS: tuple[type[Exception], ...] = (SimulacraError, MaskError, StorageError)

DATABASE_ERRORS: tuple[type[Exception], ...] = (OperationalError,)
"""What any read or write raises when the database itself refuses (read-only, locked, full, gone), as opposed
to a mistake in the request: `database_problem` words it."""

# By SQLite's result code, so the wording does not hang on SQLite's message text; extended codes
# (SQLITE_READONLY_DBMOVED, SQLITE_IOERR_WRITE, ...) fall under their primary code.
_SQLITE_PROBLEMS = {
    "SQLITE_READONLY": "is read-only: check that you may write to the file and to its folder",
    "SQLITE_CANTOPEN": "cannot be opened: check that its folder exists and that you may write to it",
    "SQLITE_PERM": "cannot be opened: permission denied",
    "SQLITE_BUSY": "is locked by another program: try again once it is done",
    "SQLITE_FULL": "cannot grow: the disk is full",
    "SQLITE_IOERR": "cannot be read or written: the disk or file system reported an error",
    "SQLITE_NOTADB": "is not a SQLite database",
    "SQLITE_CORRUPT": "is damaged: SQLite reports it as malformed",
}


def known_database_problem(error: BaseException, where: str) -> str | None:
    """One line for a refusal this app can explain (SQLite's result codes), naming the database `where`."""
    name = str(getattr(getattr(error, "orig", error), "sqlite_errorname", ""))
    if name.startswith("SQLITE_CANTOPEN") and Path(where).is_file():
        # The file is there, so what failed is creating its -wal or -shm file beside it.
        return f"the database {where} cannot be written, its folder is read-only: check that you may write to it"
    for code, problem in _SQLITE_PROBLEMS.items():
        if name == code or name.startswith(f"{code}_"):
            return f"the database {where} {problem}"
    return None


def database_problem(error: BaseException, where: str) -> str:
    """One line for any database refusal: the explained ones, or the driver's own first line."""
    return known_database_problem(error, where) or f"the database {where} failed: {first_line(error)}"


def first_line(error: BaseException) -> str:
    """The driver's own message (not SQLAlchemy's wrapper with the SQL statement), first line only."""
    cause = getattr(error, "orig", None) or error
    text = str(cause).strip()
    return text.splitlines()[0] if text else type(cause).__name__
