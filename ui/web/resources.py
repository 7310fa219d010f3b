"""What every Streamlit session shares: the engine and the model registry are built once per process,
because migrating the database or loading a model on every rerun would make each click take seconds."""

from __future__ import annotations

import threading

import streamlit as st
from sqlalchemy.engine import Engine

from personas.mask import Mask
from simulator.errors import SimulacraError
from simulator.registry import Registry
from ui.service.conversations.service import Conversations
from ui.service.database import check_database
from ui.service.settings import Settings, load_dotenv_keys
from ui.service.transcripts.service import Transcripts
from ui.service.workspace import Workspace, open_database


@st.cache_resource(show_spinner=False)
def _dotenv_loaded() -> bool:
    load_dotenv_keys()
    return True


def settings() -> Settings:
    """Read fresh each rerun (cheap), so an edited .env or simulacra.toml shows without a restart.

    Raises:
        pydantic.ValidationError: a SIMULACRA_* variable, .env or simulacra.toml value is invalid.
    """
    _dotenv_loaded()
    return Settings()


@st.cache_resource(show_spinner="Opening the database…")
def engine(url: str) -> Engine:
    """Raises ServiceError when the database cannot be opened (not cached: the next rerun tries again)."""
    return open_database(url)


@st.cache_resource(show_spinner=False)
def _registry(key: str, _settings: Settings) -> Registry:
    # Keyed only by what shapes the registry, so unrelated settings (data_dir, port) reuse loaded models.
    shared = _settings.registry()
    # Load the bundled models (and litellm) behind the first page, so the first turn starts at once.
    threading.Thread(target=_warm, args=(shared,), name="simulacra-warm-up", daemon=True).start()
    return shared


def database_ready(current: Settings) -> None:
    """Checked before every page, so a database gone or broken shows one message instead of each query's own.

    Raises:
        ServiceError: the database cannot be opened, or has gone or broken since it was.
    """
    check_database(engine(current.resolved_database_url))


def _warm(shared: Registry) -> None:
    try:
        shared.warm()
    except SimulacraError:
        pass  # a missing model is reported in its lane, with what to do, when a turn uses it


def registry(current: Settings) -> Registry:
    return _registry(current.model_dump_json(include={"n_ctx", "threads", "models"}), current)


def workspace(current: Settings | None = None) -> Workspace:
    """This process's database and models under the current settings.

    Raises:
        ServiceError: the database cannot be opened.
    """
    current = current or settings()
    return Workspace(current, engine(current.resolved_database_url), registry(current))


def conversations(current: Settings | None = None) -> Conversations:
    return workspace(current).conversations


def transcripts(current: Settings | None = None) -> Transcripts:
    """Saved conversations only: no model is loaded for them."""
    current = current or settings()
    return Transcripts(engine(current.resolved_database_url))


def masks(current: Settings | None = None) -> list[Mask]:
    return workspace(current).masks()
