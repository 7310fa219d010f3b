# Compare's list of saved conversations is the user's own: an experiment run's cells (one conversation each)
# stay under the run, and a toggle brings them in. The run is stored in the app's SQLite file, no sample drawn.

from __future__ import annotations

from sqlalchemy import Engine
from streamlit.testing.v1 import AppTest

from personas.suites import load_suite
from tests.support.experiments import store_run
from tests.support.screen import plain
from tests.support.transcripts import Seed


def saved(at: AppTest) -> list[str]:
    return [plain(b.label) for b in at.sidebar.button if (b.key or "").startswith("open-")]


def test_experiment_cells_stay_out_of_the_list_unless_asked_for(app: AppTest, engine: Engine, seed: Seed) -> None:
    seed.conversation("my own chat", "Hello?", ["Hi.", "Hello."])
    suite = load_suite("capital-quiz").with_run_options(samples=1)
    run_id = store_run(engine, suite, {lane: ["Paris."] for lane in suite.lanes})
    at = app.run()
    assert not at.exception
    assert saved(at) == ["my own chat"]
    at.sidebar.toggle(key="show-experiment-conversations").set_value(True).run()
    cells = [f"capital-quiz · run {run_id} · {lane} · prompt 1" for lane in suite.lanes]
    assert sorted(saved(at)) == sorted([*cells, "my own chat"])
    opened = next(b for b in at.sidebar.button if plain(b.label) == cells[0])
    opened.click().run()
    assert not at.exception and f"capital-quiz · run {run_id}" in plain(at.markdown[0].value)
