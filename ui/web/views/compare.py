"""The Compare page: lanes side by side, one message to all of them, every reply streaming at once."""

from __future__ import annotations

import streamlit as st

from simulator.values import SamplingSettings
from ui.service.conversations.jobs import turn_manager
from ui.service.conversations.service import Conversations, LaneSpec, parse_lane_spec
from ui.service.errors import USER_ERRORS, LaneSpecError
from ui.service.settings import Settings
from ui.service.transcripts.service import Transcripts
from ui.web import resources
from ui.web.widgets.conversations.lane_grid import lane_headers, open_grid, send_turn, show_turns
from ui.web.widgets.inside.steering import directions_popover
from ui.web.widgets.view import escape_markdown, lane_editor, sampling_summary, spec_from_state

MAX_LANES = 6
DEFAULT_SAMPLING = SamplingSettings(temperature=0.7, max_tokens=128)

state = st.session_state


# -- session state: the open conversation, or the draft lanes of a new one ---------------------------
# Draft lanes are kept by a uid that keys their widgets, so removing one lane keeps the others' edits.


def _new_draft(specs: list[LaneSpec]) -> dict[int, LaneSpec]:
    first = int(state.get("next_lane_uid", 0))
    state["next_lane_uid"] = first + len(specs)
    return {first + i: spec for i, spec in enumerate(specs)}


def _default_specs(current: Settings) -> list[LaneSpec]:
    specs = []
    for text in current.default_lanes:
        try:
            specs.append(parse_lane_spec(text, DEFAULT_SAMPLING))
        except LaneSpecError as e:
            st.warning(escape_markdown(f"default_lanes: {e}"))
    return specs or [LaneSpec(model="chat", settings=DEFAULT_SAMPLING)]


def _drafts() -> dict[int, LaneSpec]:
    drafts: dict[int, LaneSpec] = state["draft_lanes"]
    return drafts


def _open(conversation_id: int) -> None:
    state["conversation_id"] = conversation_id


def _new_conversation() -> None:
    # A draft still being edited is kept: nothing of it is saved yet, and it is what the user was doing.
    state["conversation_id"] = None


def _new_with_lanes(specs: list[LaneSpec]) -> None:
    state["draft_lanes"] = _new_draft(specs)
    state["conversation_id"] = None


def _add_draft_lane() -> None:
    drafts = _drafts()
    template = list(drafts.values())[-1] if drafts else LaneSpec(model="chat", settings=DEFAULT_SAMPLING)
    drafts.update(_new_draft([template.model_copy(deep=True)]))


def _add_drafts(specs: list[LaneSpec]) -> None:
    _drafts().update(_new_draft(specs))


def _remove_draft_lane(uid: int) -> None:
    _drafts().pop(uid, None)


# -- sidebar ---------------------------------------------------------------------------------------


def _sidebar(transcripts: Transcripts) -> None:
    with st.sidebar:
        st.button("New conversation", icon=":material/add:", on_click=_new_conversation, width="stretch")
        # Each experiment cell is a conversation: a run would push the user's own out of this list.
        with_runs = st.toggle(
            "Show experiment runs", key="show-experiment-conversations", help="Their cells, one conversation each."
        )
        summaries = transcripts.recent(limit=50, experiments=with_runs)
        if summaries:
            st.caption("Saved conversations")
        for summary in summaries:
            current = summary.id == state.get("conversation_id")
            st.button(
                escape_markdown(summary.title or "(untitled)"),
                key=f"open-{summary.id}",
                help=escape_markdown(f"{summary.updated_at:%Y-%m-%d %H:%M} UTC · {', '.join(summary.lane_labels)}"),
                on_click=_open,
                args=(summary.id,),
                type="primary" if current else "secondary",
                width="stretch",
            )


# -- lanes -----------------------------------------------------------------------------------------


def _draft_view(service: Conversations, current: Settings) -> None:
    drafts = _drafts()
    top = st.columns([3, 1, 1])
    top[0].caption("New conversation: set up the lanes, then send a message. Lanes are saved with the first message.")
    top[1].button(
        "Add lane", icon=":material/add:", on_click=_add_draft_lane, disabled=len(drafts) >= MAX_LANES, width="stretch"
    )
    with top[2]:
        template = list(drafts.values())[-1].settings if drafts else DEFAULT_SAMPLING
        directions_popover(_add_drafts, MAX_LANES - len(drafts), template, per_turn=False)
    model_names = service.model_names()
    mask_names = [mask.name for mask in resources.masks(current)]
    for uid, column in zip(list(drafts), st.columns(len(drafts)), strict=True):
        with column:
            header = st.container()
            with st.popover("Settings", icon=":material/tune:"):
                drafts[uid] = lane_editor(f"draft-{uid}", drafts[uid], model_names, mask_names)
                st.button(
                    "Remove lane",
                    key=f"remove-{uid}",
                    icon=":material/delete:",
                    on_click=_remove_draft_lane,
                    args=(uid,),
                    disabled=len(drafts) <= 1,
                )
            header.markdown(f"**{escape_markdown(drafts[uid].display_label or '(choose a model)')}**")
            header.caption(sampling_summary("draft", drafts[uid].settings))


def _add_lane_popover(service: Conversations, current: Settings, conversation_id: int, count: int) -> None:
    with st.popover("Add lane", icon=":material/add:", disabled=count >= MAX_LANES, width="stretch"):
        st.caption("The new lane answers from the next message on.")
        spec = lane_editor(
            "add",
            LaneSpec(model="chat", settings=DEFAULT_SAMPLING),
            service.model_names(),
            [mask.name for mask in resources.masks(current)],
        )
        if st.button("Add this lane", key="add-confirm"):
            try:
                service.add_lane(conversation_id, spec)
            except USER_ERRORS as e:
                st.error(escape_markdown(str(e)))
            else:
                st.rerun()


def _conversation_view(service: Conversations, current: Settings, conversation_id: int, prompt: str | None) -> None:
    try:
        grid = open_grid(service, resources.transcripts(current), conversation_id, key="")
    except USER_ERRORS as e:  # deleted meanwhile, or the database went away
        st.error(escape_markdown(str(e)))
        st.button("New conversation", key="gone-new", on_click=_new_conversation)
        return
    if prompt is not None and turn_manager().running(conversation_id):
        # One turn at a time per conversation: the next one's history needs this one's replies.
        st.warning("The lanes are still writing: wait for them, or press Stop. Not sent; your message:")
        st.code(prompt, language=None, wrap_lines=True)
    elif prompt is not None and service.turn_running(conversation_id):
        # The same rule for a turn that another app instance or `simulacra ask` runs (the database's lease).
        st.warning(
            f"Conversation {conversation_id} has a turn running elsewhere (another app or `simulacra ask`): "
            "wait for it. Not sent; your message:"
        )
        st.code(prompt, language=None, wrap_lines=True)
    elif prompt is not None:
        # Starts the turn and redraws: its replies then stream in their cells, and the sidebar has the title.
        send_turn(grid, prompt)
    title = grid.view.conversation.title
    top = st.columns([3, 1, 1, 1])
    top[0].markdown(f"#### {escape_markdown(title or '(untitled)')}")
    top[1].button(
        "New conversation with these lanes",
        icon=":material/content_copy:",
        on_click=_new_with_lanes,
        args=([LaneSpec.of(lane) for lane in grid.lanes],),
        width="stretch",
        help="Saved lanes cannot be removed or changed (their replies depend on them); start a copy instead.",
    )
    with top[2]:
        _add_lane_popover(service, current, conversation_id, len(grid.lanes))
    with top[3]:

        def add(specs: list[LaneSpec]) -> None:
            for spec in specs:
                service.add_lane(conversation_id, spec)

        directions_popover(add, MAX_LANES - len(grid.lanes), DEFAULT_SAMPLING, per_turn=True)
    lane_headers(grid)
    show_turns(grid)


def _start(service: Conversations, prompt: str) -> int | None:
    """Save the draft lanes as a new conversation when its first message is sent."""
    # Widget values are read from session state: they may have changed in the same rerun as the message.
    try:
        specs = [spec_from_state(f"draft-{uid}") or spec for uid, spec in _drafts().items()]
        conversation_id = service.create(specs)
    except USER_ERRORS as e:
        st.error(escape_markdown(str(e)))
        # Nothing was saved, so keep what the user typed where they can copy it after fixing the lane.
        st.caption("Not sent. Your message:")
        st.code(prompt, language=None, wrap_lines=True)
        return None
    state["conversation_id"] = conversation_id
    state["draft_lanes"] = None
    return conversation_id


def _follow_the_address() -> None:
    """The open conversation is in the address too (`?conversation=ID`), so a reload or a link opens it again,
    and with it any turn still running there."""
    wanted = st.query_params.get("conversation")
    # Read once per browser session (a reload starts a new one); afterwards the session decides, so "New
    # conversation" is not undone by the old address.
    if not state.get("address_read"):
        state["address_read"] = True
        if state.get("conversation_id") is None and wanted and wanted.isdigit():
            state["conversation_id"] = int(wanted)
    if state.get("conversation_id") is None:
        st.query_params.pop("conversation", None)
    else:
        st.query_params["conversation"] = str(state["conversation_id"])


def render() -> None:
    current = resources.settings()
    service = resources.conversations(current)
    state.setdefault("conversation_id", None)
    _follow_the_address()
    if state.get("draft_lanes") is None and state["conversation_id"] is None:
        state["draft_lanes"] = _new_draft(_default_specs(current))
    _sidebar(resources.transcripts(current))
    # Read before the lanes are drawn: the first message turns the draft into a saved conversation. The box
    # never changes while a turn runs: a changed placeholder or state is a new widget, and the old one would
    # stay on the page, faded, for as long as the page follows the turn.
    conversation_id = state["conversation_id"]
    prompt = st.chat_input("Message every lane")
    if prompt is not None and not prompt.strip():
        # Refused before anything is saved, as `simulacra ask` refuses it: not even a new conversation's lanes.
        st.warning("An empty message cannot be sent: write something for the lanes to answer.")
        prompt = None
    if prompt and conversation_id is None:
        conversation_id = _start(service, prompt)
        _follow_the_address()
    if conversation_id is None:
        _draft_view(service, current)
    else:
        _conversation_view(service, current, conversation_id, prompt or None)


render()
