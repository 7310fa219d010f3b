# Every storage test runs against a real SQLite file in its own tmp_path, migrated like the app's.

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from storage import repo
from storage.db import make_engine
from storage.tables import Lane


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'data' / 'simulacra.db'}"


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    engine = make_engine(db_url)
    yield engine
    engine.dispose()


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    with Session(engine) as session:
        yield session


@pytest.fixture
def make_lane(session: Session) -> Callable[..., Lane]:
    """Add a lane with plausible settings; keyword arguments override them."""

    def make(conversation_id: int, position: int, **overrides: Any) -> Lane:
        settings: dict[str, Any] = {
            "label": f"lane {position}",
            "kind": "simulator",
            "model": "gemma-3-270m",
            "mask_name": None,
            "mask_snapshot": None,
            "system_prompt": None,
            "temperature": 0.0,
            "top_p": 1.0,
            "top_k": 40,
            "max_tokens": 64,
            "seed": 1,
            "stop": ["\nUser:"],
        }
        settings.update(overrides)
        return repo.add_lane(session=session, conversation_id=conversation_id, position=position, **settings)

    return make
