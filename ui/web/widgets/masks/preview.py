"""Lift the mask: the exact document a simulator reads, piece by piece, beside the messages a chat lane gets,
for a saved conversation or a sample one; and "Try it", one unsaved turn with the mask being edited."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from functools import partial

import streamlit as st

from personas.mask import DocumentPart, HistoryTurn, Mask
from simulator.events import Reply
from simulator.values import SamplingSettings
from ui.service.conversations.jobs import TurnJob, turn_manager
from ui.service.conversations.service import Conversations
from ui.service.read_models import Lane
from ui.service.settings import Settings
from ui.web import resources
from ui.web.widgets.view import escape_markdown, show_reply

SAMPLE = 0  # the conversation picker's entry for the sample conversation (saved conversations have ids >= 1)
SAMPLE_TURNS = [
    HistoryTurn(role="user", text="What is the tallest mountain on Earth?"),
    HistoryTurn(role="character", text="Mount Everest, at about 8,849 metres."),
]
NEXT_MESSAGE = "And the deepest ocean trench?"
REDRAW_EVERY_S = 0.05
HEARTBEAT_S = 0.5


def choose_history(current: Settings, mask_name: str) -> list[HistoryTurn]:
    """Which conversation the preview renders, and the user's next message; returns that history."""
    service = resources.conversations(current)
    titles = {c.id: c.title or "(untitled)" for c in resources.transcripts(current).recent(limit=50)}
    options = [SAMPLE, *titles]
    open_in_compare = st.session_state.get("conversation_id")
    pick, message = st.columns(2)
    with pick:
        chosen = st.selectbox(
            "Conversation",
            options,
            index=options.index(open_in_compare) if open_in_compare in titles else 0,
            format_func=lambda i: "Sample: a question, its answer, then your message" if i == SAMPLE else titles[i],
            key="masks-preview-conversation",
            help="The preview renders this conversation with the mask, as a lane wearing it would read it.",
        )
        history = list(SAMPLE_TURNS)
        if chosen != SAMPLE:
            lanes = service.lanes(chosen)
            lane_id = _pick_lane(lanes, mask_name, chosen)
            history = service.history(chosen, lane_id)
    with message:
        text = st.text_area("Your next message", value=NEXT_MESSAGE, height=80, key="masks-preview-message")
    if text or chosen == SAMPLE:
        history.append(HistoryTurn(role="user", text=text or ""))
    return history


def _pick_lane(lanes: list[Lane], mask_name: str, conversation_id: int) -> int | None:
    """Whose replies the history holds: a lane wearing this mask if there is one, else the first base lane."""
    if not lanes:
        return None
    labels = {lane.id: lane.label for lane in lanes}
    ids = list(labels)
    wearing = [lane.id for lane in lanes if lane.mask_name == mask_name]
    simulators = [lane.id for lane in lanes if lane.kind == "simulator"]
    default = (wearing or simulators or ids)[0]
    chosen: int | None = st.selectbox(
        "Replies from lane",
        ids,
        index=ids.index(default),
        format_func=lambda i: labels[i],
        key=f"masks-preview-lane-{conversation_id}",
    )
    return chosen


def _label(part: DocumentPart, mask: Mask) -> str:
    speaker = mask.user_name if part.role == "user" else mask.character_name
    return {
        "frame": "Frame",
        "example": f"Example turn · {speaker}",
        "greeting": f"Greeting · {speaker}",
        "turn": f"Conversation · {speaker}" + (" (you)" if part.role == "user" else " (model)"),
        "cue": f"Cue · the model writes {speaker}'s turn from here",
    }[part.kind]


def show_document(mask: Mask, history: list[HistoryTurn]) -> None:
    """The document in labelled boxes, the forged-turn notice, and the whole text to copy."""
    st.markdown("**What the simulator reads**")
    st.caption("The exact document, piece by piece. A base model continues it from the end.")
    forged = mask.forged_lines(history)
    if forged:
        tags = " or ".join(f"'{tag}'" for tag in mask.speaker_tags())
        st.warning(
            escape_markdown(
                f"{len(forged)} line(s) of your messages start with a speaker tag ({tags}). The document quotes"
                f" them with '> ', so no one can write {mask.character_name}'s lines for them."
            ),
            icon=":material/format_quote:",
        )
    for index, part in enumerate(mask.document_parts(history)):
        if part.kind == "frame" and not part.text:
            continue
        with st.container(border=True, key=f"doc-{part.kind}-{index}"):
            st.caption(escape_markdown(_label(part, mask)))
            if part.text:
                # st.code keeps indentation and inner blank lines; st.text would dedent and strip them.
                st.code(part.text, language=None, wrap_lines=True)
            else:
                st.caption("(nothing: the model continues straight after the last turn)")
            for line in part.quoted:
                st.caption(escape_markdown(f"quoted, it opened with a speaker tag: {line}"))
    with st.expander("The whole document as one text"), st.container(key="masks-document"):
        st.code(mask.render(history), language=None, wrap_lines=True)
    stops = mask.stop_sequences()
    st.caption("Stops at: " + (", ".join(escape_markdown(repr(s)) for s in stops) if stops else "max tokens only"))


def show_messages(mask: Mask, history: list[HistoryTurn]) -> None:
    """The same persona as a chat lane's message list."""
    st.markdown("**What a chat lane gets**")
    st.caption("The same persona as chat messages: roles travel beside the text, so nothing needs quoting.")
    messages = mask.as_messages(history)
    for message in messages:
        role = message["role"]
        with st.chat_message(role, avatar=":material/tune:" if role == "system" else None):
            st.caption(role)
            st.text(message["content"])
    with st.expander("As JSON"), st.container(key="masks-messages"):
        st.code(json.dumps(messages, ensure_ascii=False, indent=2), language="json", wrap_lines=True)


def try_it(current: Settings, mask: Mask | None, history: list[HistoryTurn]) -> None:
    """One turn of the mask being edited in a scratch lane: nothing is saved, nothing is added to a conversation."""
    st.subheader("Try it")
    st.caption("One turn in a scratch lane, on the conversation above, with the mask as it is in the editor.")
    service = resources.conversations(current)
    names = service.model_names()
    model_col, temperature_col, tokens_col, go_col = st.columns([2, 2, 1, 1], vertical_alignment="bottom")
    model = model_col.selectbox(
        "Model", names, index=names.index("base") if "base" in names else 0, key="masks-try-model"
    )
    temperature = temperature_col.slider("Temperature", 0.0, 2.0, value=0.7, step=0.05, key="masks-try-temperature")
    max_tokens = tokens_col.number_input("Max tokens", 1, 1024, value=48, step=1, key="masks-try-max_tokens")
    go = go_col.button("Try it", type="primary", disabled=mask is None, key="masks-try", icon=":material/play_arrow:")
    with st.container(key="masks-try-reply"):
        if mask is None:
            st.caption("Fix the fields marked in the editor to try the mask.")
            return
        manager = turn_manager()
        if go:
            settings = SamplingSettings(temperature=float(temperature), max_tokens=int(max_tokens))
            replies = partial(_try, service, model, mask, history, settings)
            manager.run_replies("try", mask.name, replies, caption=model, meta={"model": model})
        job = manager.latest("try", mask.name)
        if job is not None:
            _follow_try(job)


def _try(
    service: Conversations,
    model: str,
    mask: Mask,
    history: list[HistoryTurn],
    settings: SamplingSettings,
    cancel: threading.Event,
) -> Iterator[Reply]:
    return service.try_mask(model, mask, history, settings, cancel=cancel)


def _follow_try(job: TurnJob) -> None:
    """The try as it stands; while it runs, follow it (it runs on in the server if the page is left)."""
    snapshot = job.snapshot()
    if snapshot.done:
        st.caption(escape_markdown(f"Last try, with {snapshot.meta['model']} (not saved):"))
        if snapshot.error:
            st.error(escape_markdown(snapshot.error))
        elif snapshot.replies:
            show_reply(snapshot.replies[0])
        return
    st.button("Stop", key="masks-try-stop", icon=":material/stop_circle:", on_click=job.stop)
    placeholder = st.empty()
    seen, drawn = -1, 0.0
    while not snapshot.done:
        # Redrawn at least every HEARTBEAT_S: Streamlit notices a click (Stop) only when the script draws.
        if (snapshot.version != seen or time.monotonic() - drawn >= HEARTBEAT_S) and snapshot.replies:
            with placeholder.container():
                show_reply(snapshot.replies[0])
            seen, drawn = snapshot.version, time.monotonic()
        job.wait(seen, timeout=REDRAW_EVERY_S * 2)
        time.sleep(REDRAW_EVERY_S)
        snapshot = job.snapshot()
    st.rerun()
