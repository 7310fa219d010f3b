"""A conversation's lanes side by side, one row per turn so user turns line up across lanes, following the
branch the user selected. Shared by Compare and Transcripts: every reply can be annotated, regenerated,
sampled, replayed, opened in the token view and branched from a token, and every user message edited."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import streamlit as st

from simulator.values import Token
from ui.service.conversations.jobs import turn_manager
from ui.service.conversations.replays import ReplayOutcome
from ui.service.conversations.service import MAX_SAMPLES, Conversations, reply_choice, user_choice
from ui.service.conversations.turns import Plan
from ui.service.inside.lens import Lenses
from ui.service.inside.trees import Trees
from ui.service.read_models import Lane, SavedMessage, Turn
from ui.service.transcripts.service import Transcripts
from ui.web import resources
from ui.web.widgets.conversations.annotations import annotation_editor, show_annotations
from ui.web.widgets.conversations.badges import lane_summary, metric_badges
from ui.web.widgets.conversations.grid_state import ACTION, LaneGrid, load, pending, select, selection, state
from ui.web.widgets.conversations.grid_state import request as request_action
from ui.web.widgets.conversations.live import (
    draw_cells,
    follow,
    running_in,
    select_new_user,
    settle,
    show_error,
    started,
    stop_button,
)
from ui.web.widgets.conversations.tokens import token_view
from ui.web.widgets.inside.contrast import compare_control
from ui.web.widgets.inside.drift import drift_line, drift_panel
from ui.web.widgets.inside.lens import lens_panel
from ui.web.widgets.inside.tree import tree_panel
from ui.web.widgets.inside.tree_compare import compare_trees_panel
from ui.web.widgets.inside.whois import whois_panel
from ui.web.widgets.view import (
    escape_markdown,
    lane_details,
    reply_details,
    sampling_summary,
    show_saved_reply,
)


def _version_nav(grid: LaneGrid, versions: list[SavedMessage], shown: SavedMessage, choice: str, key: str) -> None:
    """‹ 2/3 › between the siblings of a message; choosing one changes the path every view follows."""
    if len(versions) < 2:
        return
    index = next(i for i, m in enumerate(versions) if m.id == shown.id)
    back, label, forward = st.columns([1, 2, 1], vertical_alignment="center")
    previous, following = versions[max(0, index - 1)], versions[min(len(versions) - 1, index + 1)]
    back.button(
        "‹",
        key=f"{key}-prev",
        disabled=index == 0,
        on_click=select,
        args=(grid.conversation_id, choice, previous.id),
        help="Previous version",
    )
    label.caption(f"{index + 1}/{len(versions)}")
    forward.button(
        "›",
        key=f"{key}-next",
        disabled=index == len(versions) - 1,
        on_click=select,
        args=(grid.conversation_id, choice, following.id),
        help="Next version",
    )


def _actions(grid: LaneGrid, lane: Lane, user: SavedMessage, reply: SavedMessage, key: str) -> None:
    # Words, not bare icons: a new user cannot guess what a pictogram does, and a wrapped row of words still reads.
    common = {"conversation_id": grid.conversation_id, "user_id": user.id, "lane_id": lane.id}
    base = lane.kind == "simulator"
    row = st.container(horizontal=True, gap="small", vertical_alignment="center")
    row.button(
        "Regenerate",
        key=f"{key}-regenerate",
        help="Draw a new reply from this lane; it is kept beside this one (‹ › steps between them).",
        on_click=request_action,
        kwargs={**common, "kind": "regenerate"},
    )
    with row.popover("Annotate", help="Tags, a rating and a note on this reply.", key=f"{key}-annotate-open"):
        annotation_editor(
            grid.transcripts,
            key=f"{key}-annotate",
            message=reply,
            known_tags=grid.view.known_tags,
        )
    with row.popover("Details", help="Model, mask, settings, seed, timings and metrics.", key=f"{key}-details-open"):
        st.text(reply_details(reply, lane))
    row.toggle("Who is speaking?", key=f"{key}-whois", help="This reply's likelihood under each mask: who wrote it?")
    if not base:
        return
    samples_help = "Draw several replies to this message at once, or replay this one from its seed."
    with row.popover("Samples", help=samples_help, key=f"{key}-samples-open"):
        st.number_input("Samples", 1, MAX_SAMPLES, value=3, key=f"{key}-samples-n")
        # The count is read when the action runs, as the edit's text is.
        st.button(
            "Draw",
            key=f"{key}-samples-go",
            on_click=request_action,
            kwargs={**common, "kind": "samples", "samples_key": f"{key}-samples-n"},
        )
        st.button(
            "Replay this reply",
            key=f"{key}-replay",
            on_click=request_action,
            kwargs={**common, "kind": "replay", "message_id": reply.id},
            disabled=reply.seed is None,
            help="Same model file, document, settings and seed: the text should match exactly.",
        )
    steps_help = "This reply read after another mask too: KL and top-k overlap at each token."
    with row.popover("Per step", help=steps_help, key=f"{key}-steps-open"):
        compare_control(key, reply, lane)
    row.toggle("Tokens", key=f"{key}-tokens", help="Each token's probability and alternatives; branch from any token.")


def _reply_cell(grid: LaneGrid, position: int, lane: Lane, turn: Turn[SavedMessage], number: int) -> None:
    assert lane.id is not None and turn.user.id is not None
    # Widgets get keys of their own shape: only the container's starts with "reply-", which tests look for.
    key = f"{grid.key}lane{position}-turn{number}"
    with st.container(key=f"{grid.key}reply-{position}-{number}"):
        action = pending(grid, turn.user.id, lane.id)
        if action is not None:
            _start_action(grid, action, turn)
        if running := running_in(grid, turn.user.id, lane.id):
            draw_cells(grid, running)
            return
        reply = turn.replies.get(lane.id)
        if reply is None:
            st.caption("no reply: this lane was added later")
            return
        _version_nav(grid, turn.reply_versions[lane.id], reply, reply_choice(turn.user.id, lane.id), key)
        _show_provenance(reply)
        show_saved_reply(reply)
        if badges := metric_badges(reply.metrics):
            st.markdown(badges)
        drift_line(reply, lane)
        show_annotations(reply.annotations)
        _actions(grid, lane, turn.user, reply, key)


def _token_panel(grid: LaneGrid, lane: Lane, turn: Turn[SavedMessage], reply: SavedMessage, key: str) -> None:
    """The token view of one reply, full width under its turn; picking an alternative branches there."""
    st.markdown(f"**Tokens of {escape_markdown(lane.label)}, reply \\#{reply.id}**")
    if reply.diverged_at is not None:
        st.caption(f"This reply diverged from reply #{reply.diverged_from_id} at token #{reply.diverged_at}.")
    request = token_view(reply.tokens, key=key)
    where = {"conversation_id": grid.conversation_id, "user_id": turn.user.id, "lane_id": lane.id}
    if request is not None:
        request_action(**where, kind="branch", message_id=reply.id, at=request.at, token=request.token, p=request.p)
        st.rerun()
    drift_panel(reply, lane, key=f"{key}-drift")
    if lane.kind == "simulator" and reply.id is not None:  # a token tree at the picked token (inside/tree.py)
        lens_panel(Lenses(grid.service), reply.id, st.session_state.get(f"{key}-pick"), key=f"{key}-lens")
        leaf = tree_panel(Trees(grid.service), reply.id, st.session_state.get(f"{key}-pick"), key=f"{key}-tree")
        if leaf is not None:
            request_action(**where, kind="tree-leaf", message_id=reply.id, view=leaf.view, address=leaf.address)
            st.rerun()
        with st.expander("Compare masks' trees on this user message", key=f"{key}-treecmp-open"):
            masks = [mask.name for mask in resources.masks()]
            compare_trees_panel(
                Trees(grid.service), lane.model, turn.user.content, masks, lane.mask_name, key=f"{key}-treecmp"
            )


def _show_provenance(reply: SavedMessage) -> None:
    if reply.diverged_at is not None:
        st.caption(f"branched from reply #{reply.diverged_from_id} at token #{reply.diverged_at}")
    replays: dict[int, ReplayOutcome] = state.get("replay_results", {})
    if reply.id in replays:
        outcome = replays[reply.id]
        if outcome.differs_at is None:
            st.success(outcome.describe())
        else:  # a token's text is model output: shown as text, never as Markdown
            st.warning(escape_markdown(outcome.describe()))


def _start_action(grid: LaneGrid, action: dict[str, Any], turn: Turn[SavedMessage]) -> None:
    """Start the requested regenerate / samples / replay / branch as a job; its cell then follows it."""
    del state[ACTION]
    service, selected, kind = grid.service, selection(grid.conversation_id), action["kind"]
    meta = {"user_id": action["user_id"], "lane_id": action["lane_id"], "message_id": action.get("message_id")}
    plan: Callable[[], Plan]
    if kind == "branch":
        token = Token(text=action["token"], p=action.get("p"))
        plan = partial(service.plan_branch, action["message_id"], action["at"], token, selection=selected)
    elif kind == "tree-leaf":
        plan = partial(Trees(service).plan_leaf, action["view"], action["address"])
    elif kind == "replay":
        original = next((m for m in turn.reply_versions[action["lane_id"]] if m.id == action["message_id"]), None)
        meta["original_tokens"] = [t.text for t in original.tokens] if original is not None else None
        plan = partial(service.plan_replay, action["message_id"], selection=selected)
    else:
        count = int(state.get(action["samples_key"]) or 1) if kind == "samples" else 1
        plan = partial(
            service.plan_regenerate,
            grid.conversation_id,
            action["user_id"],
            action["lane_id"],
            samples=count,
            selection=selected,
        )
    # Shares this app's lease with its other jobs here, but not with a turn another process or instance runs.
    hold = partial(service.hold, grid.conversation_id, exclusive=False)
    job = turn_manager().run_plan(kind, grid.conversation_id, plan, service.run, _sample_captions, meta, hold)
    started(job)


def _sample_captions(plan: Plan) -> list[str]:
    return [f"sample {n + 1}" for n in range(len(plan.jobs))]


# -- samples grid ------------------------------------------------------------------------------------


def _samples_grid(grid: LaneGrid, lane: Lane, turn: Turn[SavedMessage]) -> None:
    assert lane.id is not None and turn.user.id is not None
    versions = turn.reply_versions.get(lane.id, [])
    head, close = st.columns([5, 1])
    head.markdown(f"**{escape_markdown(lane.label)}: all {len(versions)} replies to this message**")
    close.button("Close", key=f"{grid.key}grid-close", on_click=state.pop, args=("samples_grid", None))
    per_row = 4
    for start in range(0, len(versions), per_row):
        for version, cell in zip(versions[start : start + per_row], st.columns(per_row), strict=False):
            with cell.container(border=True, key=f"{grid.key}sample-{version.id}"):
                st.caption(f"reply #{version.id} · seed {version.seed if version.seed is not None else '—'}")
                show_saved_reply(version)
                if badges := metric_badges(version.metrics):
                    st.markdown(badges)
                show_annotations(version.annotations)
                st.button(
                    "Continue from this one",
                    key=f"{grid.key}use-{version.id}",
                    on_click=select,
                    args=(grid.conversation_id, reply_choice(turn.user.id, lane.id), version.id),
                )
                with st.popover("Annotate", icon=":material/edit_note:"):
                    annotation_editor(
                        grid.transcripts,
                        key=f"{grid.key}grid-annotate-{version.id}",
                        message=version,
                        known_tags=grid.view.known_tags,
                    )


# -- rows ------------------------------------------------------------------------------------------------


def lane_headers(grid: LaneGrid) -> None:
    for lane, column in zip(grid.lanes, st.columns(max(1, len(grid.lanes))), strict=False):
        with column:
            st.markdown(f"**{escape_markdown(lane.label)}**")
            st.caption(sampling_summary(lane.kind, lane.settings))
            assert lane.id is not None
            if summary := lane_summary(grid.turns, lane.id):
                st.caption(summary)
            with st.popover("Settings", icon=":material/tune:"):
                st.text(lane_details(lane))


def _user_row(grid: LaneGrid, turn: Turn[SavedMessage], number: int) -> None:
    key = f"{grid.key}user-{number}"
    with st.chat_message("user"):
        _version_nav(grid, turn.user_versions, turn.user, user_choice(turn.user.parent_id), key)
        st.text(turn.user.content)
        with st.popover(
            "Edit", icon=":material/edit:", help="Edit and resend: starts a new branch", key=f"{key}-edit-open"
        ):
            st.text_area("Message", value=turn.user.content, key=f"{key}-edit-text")
            # The text is read when the action runs: arguments bound here would hold the previous run's value.
            st.button(
                "Send as a new branch",
                key=f"{key}-edit-send",
                on_click=request_action,
                kwargs={
                    "conversation_id": grid.conversation_id,
                    "kind": "edit",
                    "turn": number,
                    "text_key": f"{key}-edit-text",
                },
            )


def show_turns(grid: LaneGrid) -> None:
    """Every turn on the selected path, each user message once across the lanes and the replies beneath it;
    an edit requested on a turn is sent here, replacing that turn and everything after it on the path."""
    action: dict[str, Any] | None = state.get(ACTION)
    editing = (
        action
        if action and action.get("kind") == "edit" and action.get("conversation_id") == grid.conversation_id
        else None
    )
    samples_at = state.get("samples_grid")
    show_error()
    stop_button(grid)
    for number, turn in enumerate(grid.turns):
        if editing is not None and number == editing["turn"]:
            del state[ACTION]
            text = str(state.get(editing["text_key"], "")).strip()
            if text:
                send_turn(grid, text, replacing=number)
                return
            st.warning("An empty message cannot be sent.")
        _user_row(grid, turn, number)
        for position, (lane, column) in enumerate(zip(grid.lanes, st.columns(max(1, len(grid.lanes))), strict=False)):
            with column:
                _reply_cell(grid, position, lane, turn, number)
        for position, lane in enumerate(grid.lanes):
            reply = turn.replies.get(lane.id or 0)
            if reply is not None and state.get(f"{grid.key}lane{position}-turn{number}-tokens"):
                with st.container(border=True, key=f"{grid.key}tokens-{position}-{number}"):
                    _token_panel(grid, lane, turn, reply, f"{grid.key}lane{position}-turn{number}-tv")
            if reply is not None and state.get(f"{grid.key}lane{position}-turn{number}-whois"):
                with st.container(border=True, key=f"{grid.key}whois-{position}-{number}"):
                    st.markdown(f"**Who is speaking? {escape_markdown(lane.label)}, reply \\#{reply.id}**")
                    whois_panel(grid.service, lane, reply, f"{grid.key}lane{position}-turn{number}-wi")
        if samples_at and samples_at[0] == grid.conversation_id and samples_at[1] == turn.user.id:
            sampled = next((lane for lane in grid.lanes if lane.id == samples_at[2]), None)
            if sampled is not None:
                with st.container(border=True):
                    _samples_grid(grid, sampled, turn)
    follow(grid)


def send_turn(grid: LaneGrid, text: str, *, replacing: int | None = None) -> None:
    """Send a new turn to every lane (or an edit of turn `replacing`) as a job, then redraw: its replies
    stream in their cells. When the turn cannot run at all, the error shows and the page stays as it was."""
    service, selected = grid.service, selection(grid.conversation_id)
    plan = partial(service.plan_send, grid.conversation_id, text, selection=selected, replacing=replacing)
    hold = partial(service.hold, grid.conversation_id)  # a new turn: no other job of the conversation runs
    job = turn_manager().run_plan("send", grid.conversation_id, plan, service.run, _lane_captions, hold=hold)
    started(job)
    select_new_user(grid, job, replacing)
    if job.done and job.error:
        show_error()
        st.caption("Not sent. Your message:")
        st.code(text, language=None, wrap_lines=True)
        return
    st.rerun()


def _lane_captions(plan: Plan) -> list[str]:
    return [job.lane.label for job in plan.jobs]


def open_grid(service: Conversations, transcripts: Transcripts, conversation_id: int, *, key: str) -> LaneGrid:
    """Settle this session's finished jobs (their selections first), then read the conversation.

    Raises NotFound when it no longer exists."""
    settle(conversation_id)
    return load(service, transcripts, conversation_id, key=key)


def show_conversation(service: Conversations, transcripts: Transcripts, conversation_id: int, *, key: str) -> LaneGrid:
    """The whole side-by-side grid of one conversation, as Transcripts shows it."""
    grid = open_grid(service, transcripts, conversation_id, key=key)
    lane_headers(grid)
    show_turns(grid)
    return grid
