"""The Models page: which models lanes can use, where each one lives, and whether a cloud model's API key
is set. Only the names of missing variables are ever shown, never a key's value."""

from __future__ import annotations

from typing import Any

import streamlit as st

from ui.service.errors import USER_ERRORS
from ui.service.probes import probe_servers, remote_simulators
from ui.service.read_models import ModelStatus
from ui.web import resources
from ui.web.widgets.view import escape_markdown


def row(status: ModelStatus) -> dict[str, Any]:
    return {
        "name": status.name,
        "kind": status.kind,
        "file or litellm string": status.source,
        "api base": status.api_base or "",
        "context (tokens)": str(status.context) if status.context else "unknown",
        "threads": status.threads or "remote",
        "API key": status.key,
        "server says": status.probe or "",
        "about": status.description,
    }


def probe_section(workspace: Any) -> None:
    """Remote base models: what their servers said when first used, and a button to ask them again now."""
    if not remote_simulators(workspace.registry):
        return
    st.subheader("Servers of remote base models")
    st.caption(
        "A remote base lane asks its server on first use which model it serves, whether it returns token"
        " probabilities and how many alternatives. A server that returns none still streams text."
    )
    if st.button("Ask the servers now", icon=":material/network_check:"):
        for result in probe_servers(workspace.registry):
            if result.error:
                st.error(escape_markdown(result.error))
            else:
                st.success(escape_markdown(f"{result.status.name}: {result.status.probe}"))


def render() -> None:
    workspace = resources.workspace()
    st.title("Models")
    st.caption("Bundled models, then those added in simulacra.toml. Lanes can also name any litellm model string.")
    table = st.empty()  # drawn after the probe section, so it shows what the servers just said
    probe_section(workspace)
    table.dataframe([row(status) for status in workspace.model_statuses()], hide_index=True, width="stretch")
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
