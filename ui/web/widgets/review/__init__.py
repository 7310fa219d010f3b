"""Widgets of the Review page: blind_pair.py (vote on one pair), leaderboard.py and reviewer.py (the reviewer name of
this browser session)."""
