"""The Models page: which models lanes can use, where each one lives, and whether a cloud model's API key
is set. Only the names of missing variables are ever shown, never a key's value."""

from __future__ import annotations

from typing import Any

import streamlit as st

from ui.service.errors import USER_ERRORS
from ui.service.models import ModelStatus
from ui.web import resources
from ui.web.widgets.view import escape_markdown


def row(status: ModelStatus) -> dict[str, Any]:
    return {
        "name": status.name,
        "kind": status.kind,
        "file or litellm string": status.source,
        "api base": status.api_base or "",
        "context (tokens)": str(status.context) if status.context else "unknown",
        "threads": str(status.threads) if status.threads else "remote",
        "API key": status.key,
        "about": status.description,
    }


def render() -> None:
    workspace = resources.workspace()
    st.title("Models")
    st.caption("Bundled models, then those added in simulacra.toml. Lanes can also name any litellm model string.")
    st.dataframe([row(status) for status in workspace.model_statuses()], hide_index=True, width="stretch")
    st.subheader("Check a litellm model string")
    typed = st.text_input("Model", placeholder="openai/gpt-4o-mini").strip()
    if not typed:
        return
    try:
        status = workspace.model_status(typed)
    except USER_ERRORS as e:
        st.error(escape_markdown(str(e)))
        return
    st.dataframe([row(status)], hide_index=True, width="stretch")


render()
