# What the experiment tests share: the app's database, a SQLite file in the test's tmp_path, migrated as the app
# opens it.

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from ui.service.workspace import open_database


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = open_database(f"sqlite:///{tmp_path / 'simulacra.db'}")
    yield engine
    engine.dispose()
