"""The Models page: which models lanes can use, where each one lives, and whether a cloud model's API key
is set. Only the names of missing variables are ever shown, never a key's value."""

from __future__ import annotations

from typing import Any

import streamlit as st

from simulator.base import default_threads
from simulator.errors import SimulacraError
from simulator.litellm_boot import litellm
from simulator.registry import ModelEntry, Registry
from ui import resources
from ui.view import escape_markdown


def key_status(entry: ModelEntry) -> str:
    """'not needed', 'present', or the names of the missing environment variables."""
    if entry.is_local or entry.api_base or entry.litellm is None:
        return "not needed"
    try:
        report = litellm().validate_environment(model=entry.litellm)
    except Exception as e:  # noqa: BLE001 - litellm raises its own types for strings it cannot parse
        return f"cannot check ({type(e).__name__})"
    missing = [str(name) for name in report.get("missing_keys") or []]
    return "missing: " + ", ".join(missing) if missing else "present"


def context_size(entry: ModelEntry, registry: Registry) -> str:
    if entry.is_local:
        return str(registry.n_ctx)
    try:
        # litellm's bundled price list (read offline) knows the context of well-known cloud models.
        info = litellm().get_model_info(entry.litellm or entry.name)
    except Exception:  # noqa: BLE001 - unknown to litellm's list: nothing to show
        return "unknown"
    return str(info.get("max_input_tokens") or "unknown")


def source(entry: ModelEntry) -> str:
    if entry.path is None:
        return entry.litellm or ""
    try:
        return str(entry.path())
    except SimulacraError as e:
        return f"missing: {e}"


def row(entry: ModelEntry, registry: Registry) -> dict[str, Any]:
    return {
        "name": entry.name,
        "kind": entry.kind,
        "file or litellm string": source(entry),
        "api base": entry.api_base or "",
        "context (tokens)": context_size(entry, registry),
        "threads": str(registry.n_threads or default_threads()) if entry.is_local else "remote",
        "API key": key_status(entry),
        "about": entry.description,
    }


def render() -> None:
    current = resources.settings()
    registry = resources.registry(current)
    st.title("Models")
    st.caption("Bundled models, then those added in simulacra.toml. Lanes can also name any litellm model string.")
    st.dataframe([row(entry, registry) for entry in registry.entries.values()], hide_index=True, width="stretch")
    st.subheader("Check a litellm model string")
    typed = st.text_input("Model", placeholder="openai/gpt-4o-mini").strip()
    if not typed:
        return
    try:
        entry = registry.resolve(typed)
    except SimulacraError as e:
        st.error(escape_markdown(str(e)))
        return
    st.dataframe([row(entry, registry)], hide_index=True, width="stretch")


render()
