"""The Experiments page's top: pick a suite from the library or upload/edit one as TOML (checked as you type, one
message in place), set the samples per cell and the lanes, and Run it as a server-side job."""

from __future__ import annotations

import re
from typing import Any

import streamlit as st

from personas.suites import Suite
from ui.service.errors import USER_ERRORS
from ui.service.experiments.jobs import experiment_jobs
from ui.service.experiments.service import Experiments
from ui.service.experiments.sources import decode_suite, parse_suite_text, suite_text
from ui.web.widgets.experiments.progress import REQUESTED
from ui.web.widgets.view import escape_markdown

LIBRARY = "Library"
EDITOR = "Upload or edit TOML"
SOURCE = "ex-source"
TOML = "ex-toml"
UPLOAD_ROUND = "ex-upload-round"
UPLOAD_ERROR = "ex-upload-error"
SHOWN = "ex-run"  # the run whose results are shown (the selectbox of stored runs)
KEPT: dict[str, Any] = {"persist_state": "session"}

state = st.session_state


def suite_setup(service: Experiments) -> None:
    """Draw the suite picker or editor and the run settings; Run starts the run and shows it below."""
    # persist_state: the suite and settings are still there after a visit to another page (a sample in Transcripts).
    st.radio("Suite", [LIBRARY, EDITOR], key=SOURCE, horizontal=True, label_visibility="collapsed", **KEPT)
    suite = _library(service) if state[SOURCE] == LIBRARY else _editor()
    if suite is None:
        return
    samples, lanes = _run_settings(suite)
    judges = _judges_wanted(suite)
    if st.button("Run", key="ex-start", type="primary", icon=":material/play_arrow:"):
        try:
            job = experiment_jobs().start(
                service,
                suite,
                samples=None if samples == suite.samples else samples,
                lanes=None if lanes == suite.lanes else lanes,
                judges=judges,
            )
        except USER_ERRORS as e:
            st.error(escape_markdown(f"Not started: {e}"))
            return
        state[REQUESTED] = job.run_id
        st.toast(f"Run #{job.run_id} started")


# -- where the suite comes from ------------------------------------------------------------------------------


def _library(service: Experiments) -> Suite | None:
    suites, problems = service.suites()
    for problem in problems:
        st.warning(escape_markdown(str(problem)))
    if not suites:
        st.info("No suites.")
        return None
    by_name = {suite.name: suite for suite in suites}
    name = st.selectbox("Suite", list(by_name), key="ex-suite", **KEPT)
    suite = by_name[str(name)]
    st.button("Edit a copy", key="ex-edit-copy", on_click=_copy_to_editor, args=(service, suite.name))
    describe(suite)
    return suite


def _copy_to_editor(service: Experiments, name: str) -> None:
    try:
        state[TOML] = suite_text(service, name)
    except USER_ERRORS as e:
        state[UPLOAD_ERROR] = str(e)
        return
    state[SOURCE] = EDITOR


def _editor() -> Suite | None:
    key = f"ex-upload-{state.get(UPLOAD_ROUND, 0)}"
    st.file_uploader("Upload a suite", type=["toml"], key=key, on_change=_upload, args=(key,))
    if (error := state.pop(UPLOAD_ERROR, None)) is not None:
        st.error(escape_markdown(error))
    state.setdefault(TOML, "")
    st.text_area(
        "Suite TOML",
        key=TOML,
        height=320,
        placeholder='name = "my-suite"\nlanes = ["base@raw", "base@assistant"]\n…',
        help="Checked as you type: unknown keys, scorers and expectations are named.",
        **KEPT,
    )
    try:
        suite = parse_suite_text(str(state[TOML]))
    except USER_ERRORS as e:
        st.error(escape_markdown(str(e)))
        return None
    describe(suite)
    return suite


def _upload(key: str) -> None:
    upload = state.get(key)
    if upload is not None:
        try:
            state[TOML] = decode_suite(upload.getvalue(), upload.name)
        except USER_ERRORS as e:
            state[UPLOAD_ERROR] = str(e)
    # A new key empties the uploader, so the same file can be loaded again after edits.
    state[UPLOAD_ROUND] = int(state.get(UPLOAD_ROUND, 0)) + 1


def describe(suite: Suite) -> None:
    """What the suite tests, as plain, escaped text."""
    with st.container(border=True, key="ex-suite-summary"):
        about = f" · {escape_markdown(suite.description)}" if suite.description else ""
        st.markdown(f"**{escape_markdown(suite.name)}**{about}")
        if suite.claim:
            st.markdown(f"Claim: {escape_markdown(suite.claim)}")
        prompts = " / ".join(prompt.last for prompt in suite.prompts)
        st.caption(escape_markdown(f"Prompts: {prompts}"))
        scorers = ", ".join(f"{s.name} ({s.kind})" for s in suite.scorers)
        st.caption(escape_markdown(f"Scorers: {scorers}"))
        for expectation in suite.expectations:
            st.caption(escape_markdown(f"Expects: {expectation.text}"))


# -- this run's samples and lanes ----------------------------------------------------------------------------


def parse_lanes(text: str) -> list[str]:
    """Lane specs typed as `MODEL@MASK`, separated by commas or spaces; repeats dropped."""
    return list(dict.fromkeys(part for part in re.split(r"[,\s]+", text) if part))


def _judges_wanted(suite: Suite) -> bool:
    """Judge scorers call a model for every sample, maybe a paid one: off unless ticked."""
    judges = [s for s in suite.scorers if s.kind == "judge"]
    if not judges:
        return False
    models = ", ".join(sorted({s.model for s in judges}))
    return st.checkbox(
        f"Grade with the judge scorers ({escape_markdown(models)})",
        key=f"ex-judges-{suite.name}",
        help="Each sample is sent to the judge model with the scorer's question; off, those scorers are n/a.",
        **KEPT,
    )


def _run_settings(suite: Suite) -> tuple[int, list[str]]:
    samples_column, lanes_column = st.columns([1, 3])
    samples = samples_column.number_input(
        "Samples per cell",
        min_value=1,
        max_value=1000,
        value=suite.samples,
        step=1,
        key=f"ex-samples-{suite.name}",
        help=f"Sample i of every cell is drawn with seed {suite.seed} + i.",
        **KEPT,
    )
    typed = lanes_column.text_input(
        "Lanes",
        value=", ".join(suite.lanes),
        key=f"ex-lanes-{suite.name}",
        help="MODEL@MASK specs, separated by commas, e.g. base@raw, base@assistant, chat.",
        **KEPT,
    )
    return int(samples), parse_lanes(typed) or list(suite.lanes)
