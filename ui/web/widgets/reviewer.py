"""The reviewer name of this browser session: a field in the sidebar, starting from SIMULACRA_REVIEWER, kept in
the session and signed on every annotation the session writes."""

from __future__ import annotations

import streamlit as st

from ui.service.errors import USER_ERRORS
from ui.service.transcripts.service import REVIEWER_MAX_LENGTH, check_reviewer
from ui.web.widgets.view import escape_markdown

_KEY = "reviewer"


def reviewer_field(default: str | None) -> None:
    """The sidebar field, on every page; an unusable name is said once, under it."""
    if _KEY not in st.session_state:
        st.session_state[_KEY] = default or ""
    name = st.sidebar.text_input(
        "Reviewer", key=_KEY, max_chars=REVIEWER_MAX_LENGTH, help="Your name, shown beside your annotations."
    )
    if name.strip():
        try:
            check_reviewer(name)
        except USER_ERRORS as e:
            st.sidebar.error(escape_markdown(str(e)))


def current_reviewer() -> str | None:
    """The name as typed (None when empty); the service checks it when an annotation is saved."""
    name = st.session_state.get(_KEY, "")
    return name if isinstance(name, str) and name.strip() else None
