"""The Review page: blind pairwise votes, and the leaderboard as its second tab (only computed when open)."""

from __future__ import annotations

import streamlit as st

from ui.service.review.service import Review
from ui.web import resources
from ui.web.widgets.review.blind_pair import vote_on_pairs
from ui.web.widgets.review.leaderboard import leaderboard
from ui.web.widgets.reviewer import current_reviewer

current = resources.settings()
service = Review(resources.engine(current.resolved_database_url), current.data_dir / "questions")

st.title("Review")
vote_tab, board_tab = st.tabs(["Judge", "Leaderboard"], key="review-tab", on_change="rerun")
if vote_tab.open:
    with vote_tab:
        vote_on_pairs(service, current_reviewer())
if board_tab.open:
    with board_tab:
        leaderboard(service)
