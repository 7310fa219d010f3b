# The drift meter on the Compare page (AppTest, the whole app on a fresh SQLite file): with no direction stored, the
# meter says how to make one and offers to compute the assistant axis (which starts that suite and opens its run on
# the Experiments page); with one, the chart under a base reply's token view has one point per token, the reply's
# mean is drawn and said, and "Drift per turn" puts each base reply's mean under it; and the Directions popover adds
# the −x / 0 / +x steered lanes with one seed.

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pyarrow as pa
import pytest
from streamlit.testing.v1 import AppTest

from simulator.registry import Registry
from simulator.values import SamplingSettings
from tests.support.directions import save_direction, save_fitted_direction
from tests.support.screen import plain
from tests.support.transcripts import Seed
from ui.service.conversations.service import parse_lane_spec
from ui.service.experiments.jobs import experiment_jobs
from ui.service.inside import drift
from ui.service.settings import Settings
from ui.service.vectors.service import Vectors
from ui.service.workspace import Workspace

pytestmark = pytest.mark.model

GREEDY = SamplingSettings(temperature=0.0, max_tokens=8, seed=1)


@pytest.fixture
def workspace(registry: Registry, data_dir: Any) -> Iterator[Workspace]:
    """The app's own database (the data folder the app reads), with the test's loaded models."""
    workspace = Workspace.open(Settings(), registry)
    yield workspace
    workspace.engine.dispose()


def asked(workspace: Workspace) -> tuple[int, list[int]]:
    service = workspace.conversations
    lanes = ("base@assistant", "base@rogue-ai")
    cid = service.create([parse_lane_spec(lane, GREEDY) for lane in lanes])
    done = [u for u in service.send(cid, "Tell me about yourself.") if u.event.kind == "done"]
    done.sort(key=lambda u: u.position)
    return cid, [u.message_id or 0 for u in done]


def opened(app: AppTest, conversation_id: int) -> AppTest:
    app.session_state["conversation_id"] = conversation_id
    at = app.run()
    assert not at.exception and not at.error
    return at


def drift_points(at: AppTest) -> list[dict[str, Any]]:
    """The drift chart's rows: one per token (`i`, `token`, `projection`)."""
    for element in at.get("vega_lite_chart"):
        for dataset in element.proto.datasets:
            rows = pa.ipc.open_stream(dataset.data.data).read_all().to_pylist()
            if rows and "projection" in rows[0] and "token" in rows[0]:
                assert json.loads(element.proto.spec)["layer"]
                return rows
    return []


def test_without_a_direction_the_meter_says_how_to_make_one(app: AppTest, seed: Seed) -> None:
    cid, _ = seed.conversation("Drift", "Hi", ["Hello there."], models=("base",))
    at = opened(app, cid)
    at.toggle(key="lane0-turn0-tokens").set_value(True).run()
    at.toggle(key="lane0-turn0-tv-drift-on").set_value(True).run()

    assert not at.exception
    said = [plain(c.value) for c in at.caption]
    assert any("No direction is stored yet" in line and "assistant-axis" in line for line in said), said
    assert at.button(key="lane0-turn0-tv-drift-axis").label == "Compute the assistant axis"


@pytest.mark.slow
def test_the_chart_has_one_point_per_token_and_each_reply_its_mean(app: AppTest, workspace: Workspace) -> None:
    cid, [helper, rogue] = asked(workspace)
    save_fitted_direction(workspace, "test-axis", ("assistant", [helper]), ("rogue-ai", [rogue]))
    expected = drift.meter(workspace, helper, "test-axis")

    at = opened(app, cid)
    at.toggle(key="lane0-turn0-tokens").set_value(True).run()
    at.toggle(key="lane0-turn0-tv-drift-on").set_value(True).run()
    assert not at.exception and not at.error
    points = drift_points(at)
    assert [p["i"] for p in points] == list(range(len(expected.tokens)))
    assert [p["projection"] for p in points] == pytest.approx([t.projection for t in expected.tokens])
    said = " ".join(plain(c.value) for c in at.caption)
    assert f"along test-axis at layer 6 (its best) (higher: more like assistant): mean {expected.mean:+.2f}" in said

    at.selectbox(key="drift-turn-direction").set_value("test-axis").run()
    assert not at.exception
    badges = [plain(m.value) for m in at.markdown if "test-axis L6 mean" in plain(m.value)]
    away = drift.meter(workspace, rogue, "test-axis")
    assert [b.split("mean ")[1].rstrip("]") for b in badges] == [f"{expected.mean:+.2f}", f"{away.mean:+.2f}"]


def test_the_directions_popover_adds_three_steered_lanes_sharing_one_seed(app: AppTest, workspace: Workspace) -> None:
    save_direction(Vectors.of(workspace), workspace.registry)
    at = app.run()
    at.slider(key="steer-x").set_value(2.5)
    at.number_input(key="steer-seed").set_value(7)
    at.button(key="steer-add").click().run()

    assert not at.exception and not at.error
    headers = [plain(m.value) for m in at.main.markdown if m.value.startswith("**")]
    steered = [f"**base@assistant ^ assistant-axis:{alpha}**" for alpha in ("-2.5", "0", "2.5")]
    assert headers == ["**base@raw**", "**base@assistant**", "**chat**", *steered]
    assert [at.number_input(key=f"draft-{uid}-seed").value for uid in (3, 4, 5)] == [7, 7, 7]
    assert at.button(key="steer-add").disabled  # six lanes: no room for three more


def test_compute_the_assistant_axis_starts_its_suite_and_opens_the_run(app: AppTest, seed: Seed) -> None:
    cid, _ = seed.conversation("Drift", "Hi", ["Hello there."], models=("base",))
    at = opened(app, cid)
    at.toggle(key="lane0-turn0-tokens").set_value(True).run()
    at.toggle(key="lane0-turn0-tv-drift-on").set_value(True).run()
    at.button(key="lane0-turn0-tv-drift-axis").click().run()

    try:
        assert not at.exception and not at.error
        [job] = experiment_jobs().running()
        assert at.session_state["ex-run"] == job.run_id  # the Experiments page, showing the run just started
        assert any("assistant-axis" in plain(m.value) for m in at.markdown)
    finally:
        for job in experiment_jobs().running():
            experiment_jobs().stop(job.run_id)
        deadline = time.monotonic() + 60
        while experiment_jobs().running() and time.monotonic() < deadline:
            time.sleep(0.2)
