# The database file deleted under the running app (issue 18): the next page load used to create an empty file
# and show Python tracebacks with paths and SQL on Compare and Transcripts. Now every page shows one line
# saying the database is gone, nothing is created in its place, and putting the file back brings it all back.

from __future__ import annotations

import shutil
from pathlib import Path

from sqlmodel import Session
from streamlit.testing.v1 import AppTest

from storage import repo
from storage.db import make_engine
from tests.support.screen import plain
from ui.service.settings import Settings

TITLE = "Quince harbour almanac"  # found nowhere in the app's own text
PAGES = ("views/transcripts.py", "views/compare.py", "views/masks.py")


def _seed() -> Path:
    settings = Settings()
    engine = make_engine(settings.resolved_database_url)
    try:
        with Session(engine) as s:
            cid = repo.create_conversation(session=s, title=TITLE).id
            repo.add_user_message(session=s, conversation_id=cid or 0, parent_id=None, content=f"{TITLE} entry")
    finally:
        engine.dispose()  # the last connection: SQLite folds its WAL into the file, so a copy holds it all
    return Path(settings.resolved_database_url.removeprefix("sqlite:///"))


def _shown(at: AppTest) -> str:
    return "\n".join(
        plain(str(e.value)) for kind in ("markdown", "text", "caption", "title") for e in at.main.get(kind)
    )


def test_a_deleted_database_is_one_message_on_every_page_and_is_not_recreated(app: AppTest, tmp_path: Path) -> None:
    database = _seed()
    at = app.switch_page(PAGES[0]).run()
    assert not at.exception and TITLE in _shown(at)
    kept = shutil.copy(database, tmp_path / "kept.db")

    database.unlink()  # as a person would, under the running server
    for page in PAGES:
        at.switch_page(page).run()
        assert not at.exception, page  # no traceback
        assert [plain(e.value) for e in at.error] == [
            f"the database {database} is gone: it was deleted or moved while the app ran. Put it back, or"
            " restart the app to start a new, empty one"
        ], page
        assert TITLE not in _shown(at)
        assert not database.exists(), page  # not silently recreated empty

    shutil.copy(kept, database)
    at.switch_page(PAGES[0]).run()
    assert not at.exception and not at.error and TITLE in _shown(at)
