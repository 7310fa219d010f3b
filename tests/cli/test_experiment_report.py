"""What `simulacra experiment report` and `replay` print about a run, as the Experiments page shows it: each verdict
with its scorer's words and the samples that would decide it (a run stored in the app's SQLite file, nothing
drawn), and a replay's differing cells numbered as on the page."""

from __future__ import annotations

import sqlite3
from contextlib import closing

import pytest

from tests.support.experiments import capital_quiz_run
from ui.service.workspace import open_database

SUITE = """
name = "three-prompts"
lanes = ["base@raw"]
samples = 1
seed = 77
[settings]
max_tokens = 2
[[prompts]]
text = "One?"
[[prompts]]
text = "Two?"
[[prompts]]
text = "Three?"
[[scorers]]
name = "asks"
kind = "regex"
pattern = '\\?'
"""


def test_the_report_gives_each_verdict_its_scorers_words_and_the_samples_to_decide_it(cli, tmp_path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "data").mkdir()
    engine = open_database(f"sqlite:///{tmp_path / 'data' / 'simulacra.db'}")
    run_id = capital_quiz_run(engine)
    engine.dispose()
    result = cli(tmp_path, "experiment", "report", str(run_id))
    assert result.returncode == 0, result.stderr
    assert (
        "| continues_quiz: More quiz rather than an answer alone: a question of its own, or a list of options"
        " (A. … B. …). | 0.75 [0.301, 0.954] (n=4) | **undecided** (4 samples do not decide it: at the measured"
        " rate, 16 would) |"
    ) in result.stdout
    assert (
        "| answers_paris: The reply names Paris. | 0 [0, 0.49] (n=4) | **fails** (close: one more sample the other"
        " way would leave it undecided; at the measured rate, 7 samples would decide it even then) |"
    ) in result.stdout


@pytest.mark.model
def test_a_replay_numbers_cells_as_the_page_does(cli, tmp_path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "three.toml").write_text(SUITE, encoding="utf-8")
    assert cli(tmp_path, "experiment", "run", str(tmp_path / "three.toml"), "--json").returncode == 0
    # The third cell's sample is changed after the fact, so the replay (the same seed) differs there alone.
    with closing(sqlite3.connect(tmp_path / "data" / "simulacra.db")) as db, db:
        db.execute(
            "UPDATE message SET content = content || ' (edited)' WHERE id = (SELECT message_id FROM run_sample"
            " JOIN run_cell ON run_cell.id = run_sample.cell_id WHERE run_cell.run_id = 1 AND run_cell.position = 2)"
        )
    result = cli(tmp_path, "experiment", "replay", "1")
    assert result.returncode == 1, result.stderr  # something differs
    lines = result.stdout.splitlines()
    assert lines[:2] == [
        "replay 2 of run 1: 1 of 3 samples differ",
        "  cell 3 (base@raw · prompt 3), sample 0 (seed 77): text",
    ]
