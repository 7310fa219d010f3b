# The storage exceptions in their own module, so every storage module can raise them without importing another;
# repo.py re-exports them, and ui.service.errors names the ones a front end shows.


class StorageError(Exception):
    """Base for storage errors the UI can show as a plain message."""


class NotFound(StorageError):
    """A conversation, lane or message id that is not in the database."""


class InvalidValue(StorageError, ValueError):
    """A value the schema would accept but that breaks the data model (bad kind, wrong parent, ...)."""


class ImportError_(StorageError):  # the trailing underscore keeps the builtin ImportError usable
    """A conversation file that cannot be imported; the message names the file's problem."""
