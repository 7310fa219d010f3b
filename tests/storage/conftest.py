# Every storage test runs twice, through the one `db_url` fixture: against a real SQLite file in its own tmp_path
# and against a new database on a real PostgreSQL server (tests/support/postgres.py), migrated like the app's.
# A test of something only SQLite has (pragmas, FTS5 tables) is marked sqlite_only.

import copy
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from storage import repo
from storage.tables import Lane
from tests.support.backends import db_url, engine, parametrize_backends  # noqa: F401 - fixtures
from tests.support.imports import exported  # noqa: F401 - a fixture: one conversation with every kind of row, exported
from tests.support.lane_rows import with_sampling_settings


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "sqlite_only: runs against SQLite only (tests what only SQLite has)")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    parametrize_backends(metafunc)


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:  # noqa: F811 - the `engine` fixture, imported above
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
        return repo.add_lane(
            session=session, conversation_id=conversation_id, position=position, **with_sampling_settings(settings)
        )

    return make


def _without_ids(export: dict[str, Any]) -> dict[str, Any]:
    """The export with every id replaced by its row's position, so two imports of one file compare equal."""
    out = copy.deepcopy(export)
    lanes = {row["id"]: i for i, row in enumerate(out["lanes"])}
    messages = {row["id"]: i for i, row in enumerate(out["messages"])}
    cid = out["conversation"]["id"]
    out["conversation"]["id"] = 0
    for i, row in enumerate(out["lanes"]):
        row["id"], row["conversation_id"] = i, 0
    for i, row in enumerate(out["messages"]):
        row["id"], row["conversation_id"] = i, 0
        row["lane_id"] = None if row["lane_id"] is None else lanes[row["lane_id"]]
        for key in ("parent_id", "diverged_from_id"):
            row[key] = None if row[key] is None else messages[row[key]]
    for i, row in enumerate(out["annotations"]):
        row["id"] = i
        row["message_id"] = None if row["message_id"] is None else messages[row["message_id"]]
        row["conversation_id"] = None if row["conversation_id"] is None else {cid: 0}[row["conversation_id"]]
    return out


@pytest.fixture(scope="session")
def without_ids() -> Callable[[dict[str, Any]], dict[str, Any]]:
    """Compare two exports of the same conversation: ids become row positions."""
    return _without_ids
