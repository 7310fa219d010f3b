"""The Experiments page: run a suite (prompts x lanes x seeded samples x scorers) as a server-side job with a
progress bar and Stop, then read its rates with intervals, charts and verdicts, drill into the samples (each
opens in Transcripts), resume a stopped run, or put two runs side by side."""

from __future__ import annotations

import streamlit as st

from ui.service.errors import USER_ERRORS
from ui.service.experiments.service import Experiments, RunRow
from ui.web import resources
from ui.web.widgets.experiments.progress import replay_button, replay_summary, resume_button, running_section
from ui.web.widgets.experiments.results import run_label, show_results
from ui.web.widgets.experiments.samples import show_samples
from ui.web.widgets.experiments.setup import REQUESTED, SHOWN, suite_setup
from ui.web.widgets.view import escape_markdown

COMPARE = "ex-compare"

state = st.session_state


def _pick(runs: list[RunRow], label: str, key: str, default: int | None) -> RunRow:
    by_id = {run.id: run for run in runs}
    if key == SHOWN and (wanted := state.get(REQUESTED)) in by_id:
        state[key] = wanted  # the run just started, whatever the picker showed before
        del state[REQUESTED]
    if state.get(key) not in by_id:
        state[key] = default if default in by_id else next(iter(by_id))
    chosen = st.selectbox(label, list(by_id), format_func=lambda i: run_label(by_id[i]), key=key)
    return by_id[int(chosen)]


def _one_run(service: Experiments, run: RunRow, key: str, drill: bool) -> None:
    try:
        report = service.report(run.id)
    except USER_ERRORS as e:
        st.error(escape_markdown(str(e)))
        return
    resume_button(service, run, key)
    replay_button(service, run, key)
    replay_summary(service, run)
    show_results(report, key)
    if drill:
        show_samples(report, resources.conversations(), key)


def results_section(service: Experiments) -> None:
    runs = service.runs()
    st.subheader("Results")
    if not runs:
        st.info("No runs yet: pick a suite above and press Run.")
        return
    compare = st.toggle("Compare two runs side by side", key=COMPARE, disabled=len(runs) < 2)
    if not compare or len(runs) < 2:
        _one_run(service, _pick(runs, "Run", SHOWN, None), "ex-r-", drill=True)
        return
    left, right = st.columns(2)
    first = int(state.get(SHOWN) or runs[0].id)
    second = next((r.id for r in runs if r.id != first), None)
    with left:
        _one_run(service, _pick(runs, "Run", SHOWN, first), "ex-a-", drill=False)
    with right:
        _one_run(service, _pick(runs, "Compared with", "ex-run-b", second), "ex-b-", drill=False)


def render() -> None:
    try:
        service = Experiments.of(resources.workspace())
    except USER_ERRORS as e:
        st.error(escape_markdown(str(e)))
        return
    st.title("Experiments")
    st.caption(
        "A suite runs prompts × lanes × seeded samples × scorers and tests its expectations. Runs go on when you"
        " leave the page; Stop keeps what was drawn, and Resume draws only what is missing."
    )
    suite_setup(service)
    running_section(service)
    results_section(service)


render()
