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
from ui.service.conversations import Conversations
from ui.service.errors import ServiceError
from ui.service.settings import Settings
from ui.service.transcripts import Transcripts


def open_database(url: str) -> Engine:
    """The database at `url`, migrated to the current schema.

    Raises:
        ServiceError: it cannot be opened; the message names it (without a password) and what to check.
    """
    try:
        return make_engine(url)
    except (OSError, SQLAlchemyError) as e:
        reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ServiceError(
            f"cannot open the database {_shown(url)}: {reason}. Check SIMULACRA_DATA_DIR or SIMULACRA_DATABASE_URL"
        ) from e


def _shown(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return repr(url)


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
        return Conversations(self.engine, self.registry, self.settings.resolved_masks_dir)

    @property
    def transcripts(self) -> Transcripts:
        return Transcripts(self.engine)

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
