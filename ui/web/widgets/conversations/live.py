"""Turn jobs on a page: start one in the process's turn manager, draw the replies of the jobs still running in
their cells, and follow them until they end; then redraw from the database. Leaving the page only stops the
following: the job goes on, and the next page that shows its conversation picks it up where it is."""

from __future__ import annotations

import time
from dataclasses import dataclass

import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from ui.service.conversations.jobs import TurnJob, turn_manager
from ui.service.conversations.replays import replay_outcome
from ui.service.conversations.service import reply_choice, user_choice
from ui.web.widgets.conversations.grid_state import LaneGrid, select, state
from ui.web.widgets.view import escape_markdown, show_reply

REDRAW_EVERY_S = 0.05  # per reply: faster redraws only cost bandwidth, the eye cannot follow them
HEARTBEAT_S = 0.5  # redraw at least this often, so a click (Stop, another page) is noticed promptly
MINE = "turn_jobs_started"  # session state: jobs this session started and has not settled yet
ERROR = "turn_job_error"  # session state: why the last job this session started could not run


@dataclass
class Cell:
    """A reply of a running job drawn on this page, to redraw as it streams."""

    job_id: int
    position: int
    placeholder: DeltaGenerator
    caption: str | None


def started(job: TurnJob) -> None:
    """Remember a job this session started, to do what its `meta` asks once it ends (see settle)."""
    state.setdefault(MINE, []).append(job.id)
    if job.done and job.error:
        state[ERROR] = job.error


def settle(conversation_id: int) -> None:
    """Apply what this session's finished jobs leave behind: the new reply selected, the replay's outcome,
    the samples grid, or the error that kept a job from running."""
    manager = turn_manager()
    still: list[int] = []
    for job_id in state.get(MINE, []):
        job = manager.get(job_id)
        if job is None:
            continue
        if not job.done:
            still.append(job_id)
        elif job.conversation_id == conversation_id:
            _settle_one(job.snapshot())
        else:
            still.append(job_id)  # another conversation's: settled when that one is shown
    state[MINE] = still


def _settle_one(job: TurnJob) -> None:
    if job.error:
        state[ERROR] = job.error
    meta, cid = job.meta, job.conversation_id
    new_ids = [i for i in job.message_ids if i is not None]
    if cid is None or not new_ids or "lane_id" not in meta:
        return
    select(cid, reply_choice(meta["user_id"], meta["lane_id"]), max(new_ids))
    if job.kind == "replay" and meta.get("original_tokens") is not None:
        replayed = [t.text for t in job.replies[-1].tokens]
        outcome = replay_outcome(meta["message_id"], meta["original_tokens"], replayed)
        state.setdefault("replay_results", {})[new_ids[-1]] = outcome
    if job.kind == "samples":
        state["samples_grid"] = (cid, meta["user_id"], meta["lane_id"])


def show_error() -> None:
    if (error := state.pop(ERROR, None)) is not None:
        st.error(escape_markdown(error))


def select_new_user(grid: LaneGrid, job: TurnJob, replacing: int | None) -> None:
    """An edit's new message goes on the path instead of the sibling it replaces."""
    if replacing is not None and job.user_id is not None:
        parent = grid.turns[replacing - 1].user.id if replacing else None
        select(grid.conversation_id, user_choice(parent), job.user_id)


def running_in(grid: LaneGrid, user_id: int, lane_id: int) -> list[tuple[TurnJob, int]]:
    """The running jobs' replies to this user message in this lane, as (job, position)."""
    found = []
    for job in turn_manager().running(grid.conversation_id):
        for position, slot in enumerate(job.slots):
            if slot.user_id == user_id and slot.lane_id == lane_id:
                found.append((job, position))
    return found


def draw_cells(grid: LaneGrid, running: list[tuple[TurnJob, int]]) -> None:
    """Draw running replies where the saved one would be, and keep them to follow."""
    captions = len(running) > 1
    for job, position in running:
        snapshot = job.snapshot()
        caption = snapshot.slots[position].caption if captions else None
        cell = Cell(job.id, position, st.empty(), caption)
        _draw(cell, snapshot)
        grid.live.append(cell)


def _draw(cell: Cell, job: TurnJob) -> None:
    with cell.placeholder.container():
        if cell.caption:
            st.caption(escape_markdown(cell.caption))
        if job.replies[cell.position].status == "incomplete" and not job.replies[cell.position].text:
            st.caption("waiting for the model…")
        else:
            show_reply(job.replies[cell.position])


def follow(grid: LaneGrid) -> None:
    """Redraw the running replies on this page as they stream; when every job has ended, redraw the page."""
    if not grid.live:
        return
    manager = turn_manager()
    seen: dict[int, int] = {}
    last_look = last_draw = 0.0
    while True:
        jobs = {cell.job_id: manager.get(cell.job_id) for cell in grid.live}
        waiting = [job for job in jobs.values() if job is not None and not job.done]
        if waiting:
            waiting[0].wait(seen.get(waiting[0].id, -1), timeout=REDRAW_EVERY_S * 2)
        now = time.monotonic()
        if now - last_look >= REDRAW_EVERY_S or not waiting:
            # Every cell is redrawn now and then even if unchanged: Streamlit notices a click (Stop, another
            # page) only when the script draws something.
            heartbeat = now - last_draw >= HEARTBEAT_S
            snapshots = {i: job.snapshot() for i, job in jobs.items() if job is not None}
            for cell in grid.live:
                job = snapshots.get(cell.job_id)
                if job is not None and (heartbeat or job.version != seen.get(job.id)):
                    _draw(cell, job)
                    last_draw = now
            seen = {i: job.version for i, job in snapshots.items()}
            last_look = now
        if not waiting:
            break
    st.rerun()


def stop_button(grid: LaneGrid) -> None:
    """Stop: the one way to end a running turn early; what the lanes wrote is kept, marked stopped."""
    if turn_manager().running(grid.conversation_id):
        st.button(
            "Stop",
            key=f"{grid.key}stop",
            icon=":material/stop_circle:",
            on_click=_stop,
            args=(grid.conversation_id,),
            help="Stop every lane still writing; their replies so far are kept.",
        )


def _stop(conversation_id: int) -> None:
    turn_manager().stop(conversation_id)
