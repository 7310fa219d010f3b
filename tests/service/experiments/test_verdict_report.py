# What a run's report says about its verdicts: the scorer's own description beside each, and, when a verdict is
# undecided or close, how many samples would decide it. A capital-quiz run of 4 samples per lane is stored in a
# real SQLite file with replies of the kinds the bundled models write, scored by the suite's own scorers.

from __future__ import annotations

from sqlalchemy import Engine

from personas.suites import load_suite
from simulator.registry import Registry
from tests.support.experiments import capital_quiz_run
from ui.service.experiments.report_models import MeasuredVerdict
from ui.service.experiments.service import Experiments


def test_verdicts_carry_the_scorers_words_and_the_samples_that_would_decide_them(
    engine: Engine, registry: Registry
) -> None:
    report = Experiments(engine, registry).report(capital_quiz_run(engine))
    raw, assistant, chat = report.verdicts
    assert isinstance(raw, MeasuredVerdict) and isinstance(assistant, MeasuredVerdict)
    assert isinstance(chat, MeasuredVerdict)
    assert raw.description == load_suite("capital-quiz").scorer("continues_quiz").description
    # 3 of 4: [0.30, 0.95] straddles 0.5; 16 samples at 0.75 would put the interval above it.
    assert (raw.value, raw.verdict, raw.samples_needed) == (0.75, "undecided", 16)
    # 4 of 4 holds and 0 of 4 fails ([0, 0.49]), each by so little that one sample more could undo it.
    assert (assistant.verdict, assistant.close, assistant.samples_needed) == ("holds", True, 7)
    assert (chat.verdict, chat.close, chat.samples_needed) == ("fails", True, 7)
    markdown = report.to_markdown()
    assert (
        "| continues_quiz: More quiz rather than an answer alone: a question of its own, or a list of options"
        " (A. … B. …). | 0.75 [0.301, 0.954] (n=4) | **undecided** (4 samples do not decide it: at the measured rate,"
        " 16 would) |"
    ) in markdown
    assert (
        "| 0 [0, 0.49] (n=4) | **fails** (close: one more sample the other way would leave it undecided; at the"
        " measured rate, 7 samples would decide it even then) |"
    ) in markdown
