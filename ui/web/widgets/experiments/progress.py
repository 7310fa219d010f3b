"""Experiment runs in progress on the Experiments page: a progress bar per running job (cells, samples, samples/s,
time left) redrawn by a fragment every half second, Stop for each, Resume for a run that did not finish, and
Replay for one that did (its seeds again as a new run, and what differs).
The runs are queued in the database and drawn by workers, this server's among them (ui/service/experiments/jobs.py):
leaving the page never stops one, and runs drawn by other workers show here too."""

from __future__ import annotations

import streamlit as st

from ui.service.errors import USER_ERRORS
from ui.service.experiments.jobs import RunProgress, experiment_jobs
from ui.service.experiments.service import Experiments, RunRow
from ui.web.widgets.view import escape_markdown

REDRAW_S = 0.5
SHOWN = "ex-run"
RESUME_ERROR = "ex-resume-error"
REPLAY_ERROR = "ex-replay-error"
# A run just started (or a replay), to show: not the run picker's own key, whose value the browser sends back with
# the next click (a Stop pressed before this script run reached the picker would otherwise bring back the old run).
REQUESTED = "ex-run-requested"

state = st.session_state


def running_section(service: Experiments) -> None:
    """Every queued or running experiment of the database, with its progress bar and Stop."""
    try:
        experiment_jobs().watch(service)
    except USER_ERRORS as e:
        st.error(escape_markdown(str(e)))
    jobs = experiment_jobs().running()
    if not jobs:
        return
    st.subheader("Running")
    for job in jobs:
        st.button(
            "Stop",
            key=f"ex-stop-{job.run_id}",
            icon=":material/stop_circle:",
            on_click=_stop,
            args=(job.run_id,),
            help="Stop drawing samples: the run keeps what it has, is stored as stopped, and can be resumed.",
        )
    _progress_bars([job.run_id for job in jobs])


@st.fragment(run_every=REDRAW_S)
def _progress_bars(run_ids: list[int]) -> None:
    # Only this fragment reruns while the runs go on; when one has ended, the whole page is drawn again, so its
    # results and status appear and its Stop button goes.
    manager = experiment_jobs()
    snapshots = [job.snapshot() for run_id in run_ids if (job := manager.get(run_id)) is not None]
    for progress in snapshots:
        show_progress(progress)
    if any(progress.done for progress in snapshots):
        st.rerun()


def show_progress(progress: RunProgress) -> None:
    label = {"resume": "resuming", "replay": "replaying"}.get(progress.kind, "running")
    if progress.status == "queued":
        label = "queued, waiting for a worker"
    text = f"Run #{progress.run_id} ({escape_markdown(progress.suite)}, {label}): {progress.summary()}"
    st.progress(progress.fraction, text=text)


def _stop(run_id: int) -> None:
    experiment_jobs().stop(run_id)


def resume_button(service: Experiments, run: RunRow, key: str = "ex-") -> None:
    """Resume for a run that is not complete and not drawing here (stopped, failed, or its server was killed)."""
    if run.status == "complete" or experiment_jobs().running(run.id):
        return
    st.button(
        "Resume",
        key=f"{key}resume-{run.id}",
        icon=":material/resume:",
        on_click=_resume,
        args=(service, run.id),
        help="Draw only the samples this run lacks; none is drawn twice.",
    )
    if (error := state.pop(RESUME_ERROR, None)) is not None:
        st.error(escape_markdown(error))


def _resume(service: Experiments, run_id: int) -> None:
    try:
        experiment_jobs().resume(service, run_id)
    except USER_ERRORS as e:
        state[RESUME_ERROR] = f"Not resumed: {e}"


def replay_button(service: Experiments, run: RunRow, key: str = "ex-") -> None:
    """Replay for a complete run: every sample drawn again on its seed, as a new run shown when it starts."""
    if run.status != "complete":
        return
    st.button(
        "Replay",
        key=f"{key}replay-{run.id}",
        icon=":material/replay:",
        on_click=_replay,
        args=(service, run.id),
        help="Draw every sample again with the same seeds on the same model files, as a new run, and list the"
        " samples whose text or scores differ (none, for local models).",
    )
    if (error := state.pop(REPLAY_ERROR, None)) is not None:
        st.error(escape_markdown(error))


def _replay(service: Experiments, run_id: int) -> None:
    try:
        job = experiment_jobs().replay(service, run_id)
    except USER_ERRORS as e:
        state[REPLAY_ERROR] = f"Not replayed: {e}"
        return
    state[REQUESTED] = job.run_id


def replay_summary(service: Experiments, run: RunRow) -> None:
    """For a finished replay: whether it drew what the run it replays drew, and which samples differ."""
    if run.replay_of is None or run.status != "complete":
        return
    try:
        report = service.compare_replay(run.id)
    except USER_ERRORS as e:
        st.error(escape_markdown(str(e)))
        return
    original = f"run #{report.original_id}"
    if report.note:  # said first: it explains differences that are no fault of the replay
        st.info(escape_markdown(report.note))
    if not report.differences:
        st.success(f"Replay of {original}: all {report.compared} samples identical, in text and scores.")
        return
    files = "" if report.same_models else " The model files differ from the original run's."
    st.warning(f"Replay of {original}: {len(report.differences)} of {report.compared} samples differ.{files}")
    for line in service.replay_differences(report):
        st.caption(escape_markdown(line))
