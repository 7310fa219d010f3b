# A stored run on the Experiments page (AppTest), as a new user reads it: a scorer with nothing to measure is an
# empty cell, each verdict has its scorer's words and, when undecided or close, the samples that would decide it,
# and a replay names the cells that differ as the CLI does. The runs are stored in the app's SQLite file.

from __future__ import annotations

from sqlalchemy import Engine
from streamlit.testing.v1 import AppTest

from personas.suites import load_suite
from tests.support.experiments import CAPITAL_QUIZ, capital_quiz_run, store_run
from tests.support.screen import plain

PAGE = "views/experiments.py"


def experiments(app: AppTest) -> AppTest:
    at = app.run()
    at.switch_page(PAGE).run()
    assert not at.exception
    return at


def test_missing_values_are_empty_and_verdicts_say_what_they_count_and_need(app: AppTest, engine: Engine) -> None:
    capital_quiz_run(engine)
    at = experiments(app)
    table = at.dataframe[0]
    chat = table.value[(table.value["lane"] == "chat") & (table.value["scorer"] == "in_character")]
    assert chat["value"].isna().all() and chat["counted"].tolist() == ["n=0"]  # a chat reply has no such metric
    assert table.proto.placeholder == "—"  # what an empty cell shows, not "None"
    captions = [plain(c.value) for c in at.caption]
    described = "continues_quiz: More quiz rather than an answer alone: a question of its own, or a list of options"
    assert f"{described} (A. … B. …). · 4 samples do not decide it: at the measured rate, 16 would" in captions
    close = (
        "answers_paris: The reply names Paris. · close: one more sample the other way would leave it undecided;"
        " at the measured rate, 7 samples would decide it even then"
    )
    assert captions.count(close) == 2  # 4 of 4 holds and 0 of 4 fails, both by the least they can
    assert "measured 0 [0, 0.49] against 0.5, n = 4" in plain("\n".join(m.value for m in at.markdown))


def test_a_replay_names_the_cells_that_differ_in_the_clis_numbering(app: AppTest, engine: Engine) -> None:
    suite = load_suite("capital-quiz").with_run_options(samples=4)
    original = capital_quiz_run(engine)
    replies = {**CAPITAL_QUIZ, "chat": ["Paris, of course.", *CAPITAL_QUIZ["chat"][1:]]}
    replay = store_run(engine, suite, replies, replay_of=original)
    at = experiments(app)
    assert at.selectbox(key="ex-run").value == replay
    assert [w.value for w in at.warning] == [f"Replay of run #{original}: 1 of 12 samples differ."]
    # The third cell (lanes in the suite's order), as `simulacra experiment replay` prints it.
    assert "cell 3 (chat · prompt 1), sample 0 (seed 1000): text, scores" in [plain(c.value) for c in at.caption]
