"""The Compare page: lanes side by side, one message to all of them, every reply streaming at once."""

from __future__ import annotations

import streamlit as st
from sqlmodel import Session

from simulator.errors import SimulacraError
from simulator.events import SamplingSettings
from storage import repo
from storage.tables import Lane
from ui import resources
from ui.conversations import Conversations, LaneSetup, lane_settings, parse_lane_spec
from ui.review import USER_ERRORS, lane_headers, load, send_turn, show_turns
from ui.settings import Settings
from ui.view import DraftLane, escape_markdown, lane_editor, sampling_summary, setup_from_state

MAX_LANES = 6
DEFAULT_SAMPLING = SamplingSettings(temperature=0.7, max_tokens=128)

state = st.session_state


# -- session state: the open conversation, or the draft lanes of a new one ---------------------------


def _new_draft(setups: list[LaneSetup]) -> list[DraftLane]:
    first = int(state.get("next_lane_uid", 0))
    state["next_lane_uid"] = first + len(setups)
    return [DraftLane(uid=first + i, setup=setup) for i, setup in enumerate(setups)]


def _default_setups(current: Settings) -> list[LaneSetup]:
    setups = []
    for spec in current.default_lanes:
        try:
            setups.append(parse_lane_spec(spec, DEFAULT_SAMPLING))
        except SimulacraError as e:
            st.warning(escape_markdown(f"default_lanes: {e}"))
    return setups or [LaneSetup(model="chat", settings=DEFAULT_SAMPLING)]


def _drafts() -> list[DraftLane]:
    drafts: list[DraftLane] = state["draft_lanes"]
    return drafts


def _open(conversation_id: int) -> None:
    state["conversation_id"] = conversation_id


def _new_conversation() -> None:
    # A draft still being edited is kept: nothing of it is saved yet, and it is what the user was doing.
    state["conversation_id"] = None


def _new_with_lanes(setups: list[LaneSetup]) -> None:
    state["draft_lanes"] = _new_draft(setups)
    state["conversation_id"] = None


def _add_draft_lane() -> None:
    drafts = _drafts()
    template = drafts[-1].setup if drafts else LaneSetup(model="chat", settings=DEFAULT_SAMPLING)
    drafts.extend(_new_draft([template.model_copy(deep=True)]))


def _remove_draft_lane(uid: int) -> None:
    state["draft_lanes"] = [d for d in _drafts() if d.uid != uid]


def _setup_of(lane: Lane) -> LaneSetup:
    return LaneSetup(model=lane.model, mask=lane.mask_name, system_prompt=lane.system_prompt,
                     settings=lane_settings(lane))


# -- sidebar ---------------------------------------------------------------------------------------


def _sidebar(service: Conversations) -> None:
    with st.sidebar:
        st.button("New conversation", icon=":material/add:", on_click=_new_conversation, width="stretch")
        with Session(service.engine) as session:
            summaries = repo.list_conversations(session=session, limit=50)
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
    top = st.columns([4, 1])
    top[0].caption("New conversation: set up the lanes, then send a message. Lanes are saved with the first message.")
    top[1].button(
        "Add lane", icon=":material/add:", on_click=_add_draft_lane, disabled=len(drafts) >= MAX_LANES, width="stretch"
    )
    model_names = list(service.registry.entries)
    mask_names = [mask.name for mask in resources.masks(current)]
    for draft, column in zip(drafts, st.columns(len(drafts)), strict=True):
        with column:
            header = st.container()
            with st.popover("Settings", icon=":material/tune:"):
                draft.setup = lane_editor(f"draft-{draft.uid}", draft.setup, model_names, mask_names)
                st.button(
                    "Remove lane",
                    key=f"remove-{draft.uid}",
                    icon=":material/delete:",
                    on_click=_remove_draft_lane,
                    args=(draft.uid,),
                    disabled=len(drafts) <= 1,
                )
            s = draft.setup.settings
            header.markdown(f"**{escape_markdown(draft.setup.display_label or '(choose a model)')}**")
            header.caption(sampling_summary("draft", s.temperature, s.max_tokens, s.seed))


def _add_lane_popover(service: Conversations, current: Settings, conversation_id: int, count: int) -> None:
    with st.popover("Add lane", icon=":material/add:", disabled=count >= MAX_LANES, width="stretch"):
        st.caption("The new lane answers from the next message on.")
        setup = lane_editor(
            "add",
            LaneSetup(model="chat", settings=DEFAULT_SAMPLING),
            list(service.registry.entries),
            [mask.name for mask in resources.masks(current)],
        )
        if st.button("Add this lane", key="add-confirm"):
            try:
                service.add_lane(conversation_id, setup)
            except USER_ERRORS as e:
                st.error(escape_markdown(str(e)))
            else:
                st.rerun()


def _conversation_view(service: Conversations, current: Settings, conversation_id: int, prompt: str | None) -> None:
    review = load(service, conversation_id, key="")
    with Session(service.engine) as session:
        title = repo.get_conversation(session=session, conversation_id=conversation_id).title
    top = st.columns([3, 1, 1])
    top[0].markdown(f"#### {escape_markdown(title or '(untitled)')}")
    top[1].button(
        "New conversation with these lanes",
        icon=":material/content_copy:",
        on_click=_new_with_lanes,
        args=([_setup_of(lane) for lane in review.lanes],),
        width="stretch",
        help="Saved lanes cannot be removed or changed (their replies depend on them); start a copy instead.",
    )
    with top[2]:
        _add_lane_popover(service, current, conversation_id, len(review.lanes))
    lane_headers(review)
    show_turns(review)
    if prompt is not None:
        # Redraws from the database when done: the sidebar gains the new title and the replies show as saved.
        send_turn(review, prompt)


def _start(service: Conversations, prompt: str) -> int | None:
    """Save the draft lanes as a new conversation when its first message is sent."""
    # Widget values are read from session state: they may have changed in the same rerun as the message.
    setups = [setup_from_state(f"draft-{d.uid}") or d.setup for d in _drafts()]
    try:
        conversation_id = service.create(setups)
    except USER_ERRORS as e:
        st.error(escape_markdown(str(e)))
        # Nothing was saved, so keep what the user typed where they can copy it after fixing the lane.
        st.caption("Not sent. Your message:")
        st.code(prompt, language=None, wrap_lines=True)
        return None
    state["conversation_id"] = conversation_id
    state["draft_lanes"] = None
    return conversation_id


def render() -> None:
    current = resources.settings()
    service = resources.conversations(current)
    state.setdefault("conversation_id", None)
    if state.get("draft_lanes") is None and state["conversation_id"] is None:
        state["draft_lanes"] = _new_draft(_default_setups(current))
    _sidebar(service)
    # Read before the lanes are drawn: the first message turns the draft into a saved conversation.
    prompt = st.chat_input("Message every lane")
    conversation_id = state["conversation_id"]
    if prompt and conversation_id is None:
        conversation_id = _start(service, prompt)
    if conversation_id is None:
        _draft_view(service, current)
    else:
        _conversation_view(service, current, conversation_id, prompt or None)


render()
