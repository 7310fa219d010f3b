# The Conversations service on a fresh SQLite file and the session's bundled models.

from collections.abc import Iterator
from pathlib import Path

import pytest

from simulator.registry import Registry
from storage.db import make_engine
from ui.service.conversations.service import Conversations


@pytest.fixture
def service(tmp_path: Path, registry: Registry) -> Iterator[Conversations]:
    engine = make_engine(f"sqlite:///{tmp_path / 'simulacra.db'}")
    yield Conversations(engine, registry)
    engine.dispose()
