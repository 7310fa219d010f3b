"""Drill from a run's cell (lane x prompt) into its samples: each one's seed, scores and text, and a button that
opens it in Transcripts, where the token view and annotations work on it like on any reply."""

from __future__ import annotations

from typing import Any

import streamlit as st

from ui.service.conversations.service import Conversations, reply_choice
from ui.service.errors import USER_ERRORS
from ui.service.experiments.judges import JUDGES_KEY
from ui.service.experiments.report import RunReport
from ui.service.experiments.report_models import SampleLink
from ui.web.widgets.conversations.grid_state import select
from ui.web.widgets.view import escape_markdown

TRANSCRIPTS_PAGE = "views/transcripts.py"
TRANSCRIPTS_OPEN = "transcripts_open"  # the Transcripts page's open conversation (OPEN in views/transcripts.py)
OPEN_ERROR = "ex-open-error"

state = st.session_state


def show_samples(report: RunReport, conversations: Conversations, key: str) -> None:
    """A cell picker, then every sample of that cell with a button to open it in Transcripts."""
    cells = [(lane, cell) for lane in report.lanes for cell in lane.cells if cell.samples]
    if not cells:
        return
    st.markdown("**Samples**")
    labels = [f"{lane.lane} · prompt {cell.prompt_index + 1} · {len(cell.samples)} samples" for lane, cell in cells]
    chosen = st.selectbox("Cell", range(len(cells)), format_func=labels.__getitem__, key=f"{key}cell")
    lane, cell = cells[int(chosen or 0)]
    # The prompt's last user message: what each sample answers.
    st.caption(escape_markdown(f"Prompt: {report.prompts[cell.prompt_index].last}"))
    if (error := state.pop(OPEN_ERROR, None)) is not None:
        st.error(escape_markdown(error))
    for sample in cell.samples:
        _sample(conversations, sample, key)


def score_text(scores: dict[str, Any]) -> str:
    """A sample's scores in our own words: yes/no for rates, numbers for metrics, n/a when not scored."""
    parts = []
    for name, value in scores.items():
        if name == JUDGES_KEY:
            continue
        if isinstance(value, bool):
            shown = "yes" if value else "no"
        elif isinstance(value, int | float):
            shown = f"{value:.3g}"
        else:
            shown = "n/a"
        parts.append(f"{name}: {shown}")
    return " · ".join(parts)


def _sample(conversations: Conversations, sample: SampleLink, key: str) -> None:
    message_id = sample.message_id
    with st.container(border=True, key=f"{key}sample-{message_id}"):
        text_column, action = st.columns([5, 1], vertical_alignment="center")
        retried = ""
        if sample.retries:  # a chat server refused it (429, 5xx) that many times before it answered
            retried = f" · {sample.retries} {'retry' if sample.retries == 1 else 'retries'}"
        text_column.caption(
            escape_markdown(f"sample {sample.index} · seed {sample.seed}{retried} · {score_text(sample.scores)}")
        )
        if sample.text:
            text_column.text(sample.text)
        else:
            text_column.caption("(empty reply)")
        for name, judged in (sample.scores.get(JUDGES_KEY) or {}).items():
            said = judged.get("error") or repr(judged.get("reply", ""))
            text_column.caption(escape_markdown(f"{name}: judged by {judged.get('model')}, who said {said}"))
        if message_id is not None and sample.conversation_id is not None:
            if action.button("Open in Transcripts", key=f"{key}open-{message_id}", icon=":material/open_in_new:"):
                open_in_transcripts(conversations, sample.conversation_id, message_id)


def open_in_transcripts(conversations: Conversations, conversation_id: int, message_id: int) -> None:
    """Switch to Transcripts with the sample's conversation open and this sample shown among its siblings."""
    try:
        view = conversations.view(conversation_id)
    except USER_ERRORS as e:
        state[OPEN_ERROR] = f"Cannot open sample #{message_id}: {e}"
        st.rerun()
    if view.lanes and view.turns and view.lanes[0].id is not None:
        select(conversation_id, reply_choice(view.turns[0].user.id, view.lanes[0].id), message_id)
    state[TRANSCRIPTS_OPEN] = conversation_id
    st.switch_page(TRANSCRIPTS_PAGE)
