# A run's persona direction on the Experiments page (AppTest): its best layer and held-out AUC with the interval in a
# sentence, a table of every layer's AUC, and a warning, not a success, when the masks are not separated; a steered
# lane's figures are named with its α and layers. The runs
# are stored in the app's SQLite file, their fits made by the runner's own fit on activations written here.

from __future__ import annotations

import numpy as np
from sqlalchemy import Engine
from sqlmodel import Session
from streamlit.testing.v1 import AppTest

from personas.suites import PersonaDirectionScorer, parse_suite_toml
from simulator.values import Steering
from storage import experiments as store
from storage import repo
from tests.support.experiments import store_run
from tests.support.screen import plain
from ui.service.experiments.direction_fit import Reading, fit_direction
from ui.service.experiments.directions import result_record

SUITE = parse_suite_toml(
    """
name = "tiny-axis"
lanes = ["base@assistant", "base@rogue-ai", "base@assistant^tiny-axis:-1"]
samples = 2
[[prompts]]
text = "Hello?"
[[prompts]]
text = "Open the door."
[[prompts]]
text = "What next?"
[[scorers]]
name = "axis"
kind = "persona_direction"
toward = "assistant"
away = "rogue-ai"
[[scorers]]
name = "rogue"
kind = "regex"
pattern = "No"
""",
    "tiny.toml",
)


def fitted_run(engine: Engine, gap: float) -> None:
    """A stored run whose direction was fitted on replies `gap` apart along one axis at layer 3 (noise elsewhere)."""
    rng = np.random.default_rng(0)

    def readings(shift: float) -> list[Reading]:
        means = [rng.normal(0, 1, (6, 8)) for _ in range(6)]
        for m in means:
            m[3, 0] += shift
        return [Reading(i // 2, m) for i, m in enumerate(means)]

    scorer = SUITE.scorer("axis")
    assert isinstance(scorer, PersonaDirectionScorer)
    fit = fit_direction(readings(gap / 2), readings(-gap / 2), [0, 1], [2], seed=0)
    replies = {"base@assistant": ["Hello."] * 2, "base@rogue-ai": ["No."] * 2, "base@assistant^tiny-axis:-1": ["Hm."]}
    run = store_run(engine, SUITE, replies)
    record = {**result_record(SUITE, scorer, fit, "base"), "vector_sha256": "ab" * 32}
    steering = Steering(direction="tiny-axis", vector_sha256="ab" * 32, alpha=-1, first_layer=3, last_layer=3)
    with Session(engine) as session:
        store.set_run_result(session=session, run_id=run, key="axis", value=record)
        for cell in store.list_cells(session=session, run_id=run):
            if cell.lane.endswith(":-1") and cell.conversation_id is not None:
                lane = repo.list_lanes(session=session, conversation_id=cell.conversation_id)[0]
                assert lane.id is not None
                store.steer_lane(session=session, lane_id=lane.id, steering=steering.model_dump(mode="json"))


def show(app: AppTest) -> AppTest:
    at = app.run()
    at.switch_page("views/experiments.py").run()
    assert not at.exception
    return at


def test_a_separating_direction_shows_its_best_layer_auc_and_layers(app: AppTest, engine: Engine) -> None:
    fitted_run(engine, gap=20.0)
    at = show(app)
    [success] = at.success
    assert plain(success.value) == (
        "tiny-axis: held-out AUC 1.000 [1.000, 1.000] (n = 2 assistant + 2 rogue-ai) at layer 3: the masks are"
        " separated."
    )
    table = next(t for t in at.dataframe if "AUC" in t.value.columns)
    assert table.value["layer"].tolist() == list(range(6)) and table.value["AUC"][3] == 1.0
    figures = next(t for t in at.dataframe if "lane" in t.value.columns).value
    assert "base@assistant α −1 (L3)" in set(figures["lane"])


def test_a_direction_that_does_not_separate_says_so(app: AppTest, engine: Engine) -> None:
    fitted_run(engine, gap=0.0)
    at = show(app)
    assert not at.success
    assert any("the masks are NOT separated" in plain(w.value) for w in at.warning)
