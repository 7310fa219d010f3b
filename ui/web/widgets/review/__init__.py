"""Widgets of the Review page: blind_pair.py (vote on one pair) and leaderboard.py. The reviewer name of this browser
session is ui/web/widgets/reviewer.py, shared with annotations."""
