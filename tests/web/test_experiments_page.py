# The Experiments page in AppTest, on the bundled base model: a tiny suite typed into the editor runs as a
# server-side job whose progress bar advances, then shows its table, chart and verdict, and a sample opens in
# Transcripts; Stop stores a run as stopped, and Resume finishes it. Bad suites and lanes are one message in place.

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from streamlit.testing.v1 import AppTest

from ui.service.experiments.jobs import experiment_jobs

pytestmark = [pytest.mark.model, pytest.mark.slow]

SUITE = """
name = "ui-tiny"
description = "Two lanes, one prompt, a few short samples."
claim = "A <b>claim</b> with *stars* and [a link](http://example.com)"
lanes = ["base@raw", "base@assistant"]
samples = {samples}
seed = 5
expectations = ['lane "base@assistant" rate("says_paris") >= 0']

[settings]
temperature = 1.0
max_tokens = {max_tokens}

[[prompts]]
text = "What is the capital of France?"

[[scorers]]
name = "says_paris"
kind = "contains"
text = ["Paris"]
"""


def open_page(app: AppTest) -> AppTest:
    at = app.run()
    at.switch_page("views/experiments.py").run()
    assert not at.exception
    at.radio(key="ex-source").set_value("Upload or edit TOML").run()
    return at


def type_suite(at: AppTest, text: str) -> None:
    at.text_area(key="ex-toml").set_value(text).run()
    assert not at.exception


def progress_values(at: AppTest) -> list[int]:
    return [int(bar.proto.value) for bar in at.get("progress")]


def poll(at: AppTest, done: Callable[[], bool], timeout: float, seen: list[int] | None = None) -> None:
    """Rerun the page (as the fragment would) until `done`, noting the progress bars it shows; the last rerun
    starts after `done` held, so it shows how the run ended."""
    deadline = time.monotonic() + timeout
    while True:
        finished = done()
        at.run()
        assert not at.exception, at.exception
        if seen is not None:
            seen.extend(progress_values(at))
        if finished:
            return
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.25)


def plain(text: str) -> str:
    """Escaped Markdown as it reads on screen."""
    return text.replace("\\", "")


def errors(at: AppTest) -> list[str]:
    return [plain(e.value) for e in at.error]


def markdown(at: AppTest) -> str:
    return "\n".join(m.value for m in at.markdown)


def test_bad_suites_and_lanes_are_one_message_in_place(app: AppTest) -> None:
    at = open_page(app)
    type_suite(at, SUITE.format(samples=2, max_tokens=8) + "colour = 'red'\n")
    assert len(errors(at)) == 1 and "colour" in errors(at)[0] and "unknown key" in errors(at)[0]
    assert not [b for b in at.button if b.key == "ex-start"]
    type_suite(at, SUITE.format(samples=2, max_tokens=8))
    assert not at.error
    at.text_input(key="ex-lanes-ui-tiny").set_value("nosuchmodel@raw").run()
    at.button(key="ex-start").click().run()
    assert len(errors(at)) == 1 and "unknown model 'nosuchmodel'" in errors(at)[0]
    assert "No runs yet" in at.info[0].value  # nothing was saved


def test_a_run_shows_progress_table_chart_verdicts_and_opens_a_sample(app: AppTest) -> None:
    at = open_page(app)
    type_suite(at, SUITE.format(samples=3, max_tokens=8))
    # The claim is shown literally: no HTML, emphasis or link.
    claim = next(m.value for m in at.markdown if "claim" in m.value)
    assert "<b>claim</b>" in plain(claim) and "<b>" not in claim and "](" not in claim
    at.button(key="ex-start").click().run()
    run_id = int(at.session_state["ex-run"])
    seen: list[int] = progress_values(at)
    assert seen, "no progress bar right after Run"
    poll(at, lambda: not experiment_jobs().running(run_id), 240, seen)
    assert seen == sorted(seen) and len(set(seen)) >= 2, seen  # it advanced while the page was watched
    table = at.dataframe[0].value
    assert list(table["lane"]) == ["base@raw", "base@assistant"]
    assert list(table["counted"].str.endswith("/3")) == [True, True]
    assert at.get("vega_lite_chart"), "no chart"
    assert ":green-badge[holds]" in markdown(at)
    assert "complete" in markdown(at)
    opens = [b for b in at.button if (b.key or "").startswith("ex-r-open-")]
    assert len(opens) == 3  # the first cell's samples
    sample_text = at.main.get_by_key(opens[1].key.replace("open", "sample")).text[0].value
    opens[1].click().run()
    assert not at.exception
    assert at.button(key="tr-back")  # the Transcripts page, with the sample's conversation open
    titles = [t.value for t in at.text_input if (t.key or "").startswith("tr-title")]
    assert titles and titles[0].startswith(f"ui-tiny · run {run_id} · base@raw")
    assert sample_text in [t.value for t in at.text]


def test_stop_stores_the_run_as_stopped_and_resume_finishes_it(app: AppTest) -> None:
    at = open_page(app)
    one_lane = SUITE.format(samples=3, max_tokens=40).replace(', "base@assistant"', "")
    type_suite(at, one_lane.replace('lane "base@assistant"', 'lane "base@raw"'))
    at.button(key="ex-start").click().run()
    run_id = int(at.session_state["ex-run"])
    at.button(key=f"ex-stop-{run_id}").click().run()
    poll(at, lambda: not experiment_jobs().running(run_id), 120)
    assert ":orange-badge[stopped]" in markdown(at)
    resume = at.button(key=f"ex-r-resume-{run_id}")
    resume.click().run()
    assert not at.exception
    assert experiment_jobs().get(run_id) is not None
    poll(at, lambda: not experiment_jobs().running(run_id), 240)
    assert ":green-badge[complete]" in markdown(at)
    assert list(at.dataframe[0].value["counted"].str.endswith("/3")) == [True]
    assert not [b for b in at.button if b.key == f"ex-r-resume-{run_id}"]

    # A second, one-sample run of the same suite, then both side by side: a table and a chart each.
    at.number_input(key="ex-samples-ui-tiny").set_value(1).run()
    at.button(key="ex-start").click().run()
    second = int(at.session_state["ex-run"])
    assert second != run_id
    poll(at, lambda: not experiment_jobs().running(second), 240)
    at.toggle(key="ex-compare").set_value(True).run()
    assert not at.exception
    assert at.selectbox(key="ex-run").value == second and at.selectbox(key="ex-run-b").value == run_id
    counted = [list(frame.value["counted"]) for frame in at.dataframe]  # successes / samples
    assert [[c.split("/")[1] for c in column] for column in counted] == [["1"], ["3"]]
    assert len(at.get("vega_lite_chart")) == 2


def test_judge_scorers_run_only_when_ticked_and_show_what_the_judge_said(app: AppTest) -> None:
    at = open_page(app)
    judged = SUITE.format(samples=1, max_tokens=8).replace(', "base@assistant"', "")
    judged = judged.replace('lane "base@assistant"', 'lane "base@raw"') + (
        '\n[[scorers]]\nname = "names_a_city"\nkind = "judge"\nmodel = "chat"\nrubric = "Does the reply name a city?"\n'
    )
    type_suite(at, judged)
    ticked = at.checkbox(key="ex-judges-ui-tiny")
    assert ticked.label == "Grade with the judge scorers (chat)" and ticked.value is False
    ticked.check().run()
    at.button(key="ex-start").click().run()
    run_id = int(at.session_state["ex-run"])
    poll(at, lambda: not experiment_jobs().running(run_id), 240)
    assert ":green-badge[complete]" in markdown(at)
    [said] = [plain(c.value) for c in at.caption if "judged by chat" in c.value]
    assert said.startswith("names_a_city: judged by chat, who said '")


def test_replay_draws_the_seeds_again_and_says_nothing_differs(app: AppTest) -> None:
    at = open_page(app)
    one_lane = SUITE.format(samples=2, max_tokens=8).replace(', "base@assistant"', "")
    type_suite(at, one_lane.replace('lane "base@assistant"', 'lane "base@raw"'))
    at.button(key="ex-start").click().run()
    run_id = int(at.session_state["ex-run"])
    poll(at, lambda: not experiment_jobs().running(run_id), 240)
    at.button(key=f"ex-r-replay-{run_id}").click().run()
    replay_id = int(at.session_state["ex-run"])
    assert replay_id != run_id and "replaying" in str([p.proto.text for p in at.get("progress")])
    poll(at, lambda: not experiment_jobs().running(replay_id), 240)
    assert [s.value for s in at.success] == [f"Replay of run #{run_id}: all 2 samples identical, in text and scores."]
