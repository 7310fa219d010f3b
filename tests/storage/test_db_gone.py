# A SQLite file deleted while its engine is open (issue 18): the engine made a new empty file on its next
# connection, and a pooled connection went on reading and writing the deleted one. Now it refuses until the file
# is back, creating nothing.

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from storage.db import current_revision, make_engine


def test_an_engine_whose_file_was_deleted_refuses_and_creates_nothing_until_it_is_back(tmp_path: Path) -> None:
    database = tmp_path / "data" / "simulacra.db"
    engine = make_engine(f"sqlite:///{database}")  # a new database: this first open creates the file
    try:
        revision = current_revision(engine)
        assert revision is not None
        kept = shutil.copy(database, tmp_path / "kept.db")

        database.unlink()
        for _ in range(2):  # the pooled connection, then a new one
            with pytest.raises(OperationalError, match="unable to open database file"):
                current_revision(engine)
            assert not database.exists()

        shutil.copy(kept, database)
        assert current_revision(engine) == revision
        with engine.connect() as connection:
            assert connection.execute(text("SELECT count(*) FROM conversation")).scalar_one() == 0
    finally:
        engine.dispose()
