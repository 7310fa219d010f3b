# A steered lane set up on the Compare page: the lane editor's "Steer with" takes DIRECTION:ALPHA[:FIRST-LAST]; an
# unreadable steering or layers out of range is one error on the page and nothing is saved; a good one saves the
# lane with its steering, labelled with it, and its reply records it.

from __future__ import annotations

import pytest
from sqlalchemy import Engine, func
from sqlmodel import Session, select
from streamlit.testing.v1 import AppTest

from simulator.registry import Registry
from storage.tables import Lane, Message
from tests.support.directions import save_direction
from tests.support.screen import plain
from ui.service.vectors.service import Vectors

pytestmark = pytest.mark.model


def rows(engine: Engine) -> tuple[int, int]:
    with Session(engine) as session:
        lanes = session.exec(select(func.count()).select_from(Lane)).one()
        messages = session.exec(select(func.count()).select_from(Message)).one()
    return int(lanes), int(messages)


def test_a_lane_steered_from_the_lane_editor(app: AppTest, engine: Engine, registry: Registry) -> None:
    save_direction(Vectors(engine, registry), registry)
    at = app.run()
    at.button(key="remove-2").click().run()  # two base lanes are enough
    for uid in range(2):
        at.slider(key=f"draft-{uid}-temperature").set_value(0.0)
        at.number_input(key=f"draft-{uid}-max_tokens").set_value(6)

    at.text_input(key="draft-1-steer").set_value("assistant-axis").run()
    assert [plain(e.value) for e in at.error] == [
        "cannot read the steering 'assistant-axis': write NAME:ALPHA[:FIRST-LAST], e.g. assistant-axis:-4 or"
        " assistant-axis:-4:6-8"
    ]
    at.text_input(key="draft-1-steer").set_value("assistant-axis:2:0-20").run()
    at.chat_input[0].set_value("Who are you?").run(timeout=120)
    assert not at.exception
    assert any("layers 0-20 are out of range" in plain(e.value) for e in at.error)
    assert rows(engine) == (0, 0)

    at.text_input(key="draft-1-steer").set_value("assistant-axis:2").run()
    at.chat_input[0].set_value("Who are you?").run(timeout=120)
    assert not at.exception and not at.error
    assert "**base@assistant ^ assistant-axis α 2 (L6)**" in [plain(m.value) for m in at.main.markdown]
    with Session(engine) as session:
        steered = session.exec(select(Message).where(Message.steering.is_not(None))).all()  # type: ignore[union-attr]
    assert [m.steering["alpha"] for m in steered if m.steering] == [2.0]
