"""The Streamlit entry point: one router, so every page shares the page config and the settings check."""

from __future__ import annotations

import streamlit as st
from pydantic import ValidationError

from ui.service.errors import USER_ERRORS
from ui.web import resources
from ui.web.widgets.view import escape_markdown

st.set_page_config(page_title="Simulacra", layout="wide")

try:
    resources.settings()
except ValidationError as e:
    # Every page needs settings; say what to fix instead of failing on each page with a traceback.
    st.error(escape_markdown(f"Invalid settings (SIMULACRA_* variables, .env or simulacra.toml): {e}"))
    st.stop()
try:
    resources.transcripts()
except USER_ERRORS as e:
    st.error(escape_markdown(str(e)))  # a database that cannot be opened: every page needs it
    st.stop()

# The pages live in views/, not pages/: Streamlit would discover a pages/ folder beside this script, and a
# deep link as the first request after start (/masks) would run that file without this router.
page = st.navigation(
    [
        st.Page("views/compare.py", title="Compare", icon=":material/view_column:", default=True),
        st.Page("views/transcripts.py", title="Transcripts", icon=":material/manage_search:"),
        st.Page("views/masks.py", title="Masks", icon=":material/theater_comedy:"),
        st.Page("views/models.py", title="Models", icon=":material/memory:"),
    ]
)
page.run()
