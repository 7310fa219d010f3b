"""The Streamlit entry point: one router, so every page shares the page config, the settings check, the password
gate and the reviewer name."""

from __future__ import annotations

import streamlit as st
from pydantic import ValidationError

from ui.service.errors import DATABASE_ERRORS, USER_ERRORS, database_problem
from ui.service.workspace import database_name
from ui.web import resources
from ui.web.widgets.login import signed_in
from ui.web.widgets.reviewer import reviewer_field
from ui.web.widgets.view import escape_markdown

# An icon of our own: without one, Streamlit makes the open page's :material/...: icon the favicon and fetches it
# from fonts.gstatic.com, which an offline app must not (the icons on the page come from the font it bundles).
st.set_page_config(page_title="Simulacra", page_icon="🎭", layout="wide")

try:
    current = resources.settings()
except ValidationError as e:
    # Every page needs settings; say what to fix instead of failing on each page with a traceback. Only where and
    # what, never the values: a database URL may hold a password, and the page may be shown before sign-in.
    problems = "; ".join(
        f"{'.'.join(map(str, p['loc'])) or 'settings'}: {p['msg'].removeprefix('Value error, ')}" for p in e.errors()
    )
    st.error(escape_markdown(f"Invalid settings (SIMULACRA_* variables, .env or simulacra.toml): {problems}"))
    st.stop()
if not signed_in(current.password):
    st.stop()  # nothing of the app, not even its page list, before the password
reviewer_field(current.reviewer)
try:
    resources.database_ready(current)
except USER_ERRORS as e:
    st.error(escape_markdown(str(e)))  # a database that cannot be opened, or has gone: every page needs it
    st.stop()

# The pages live in views/, not pages/: Streamlit would discover a pages/ folder beside this script, and a
# deep link as the first request after start (/masks) would run that file without this router.
page = st.navigation(
    [
        st.Page("views/compare.py", title="Compare", icon=":material/view_column:", default=True),
        st.Page("views/transcripts.py", title="Transcripts", icon=":material/manage_search:"),
        st.Page("views/masks.py", title="Masks", icon=":material/theater_comedy:"),
        st.Page("views/experiments.py", title="Experiments", icon=":material/science:"),
        st.Page("views/review.py", title="Review", icon=":material/balance:"),
        st.Page("views/models.py", title="Models", icon=":material/memory:"),
    ]
)
try:
    page.run()
except DATABASE_ERRORS as e:
    # The database went or broke while the page ran (it was there a moment ago): one line, never a traceback.
    st.error(escape_markdown(database_problem(e, database_name(current.resolved_database_url))))
