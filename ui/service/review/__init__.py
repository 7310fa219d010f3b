"""Blind review: service.py (the next pair for a reviewer, votes saved and revealed), queue.py (which pairs, in
which order and arrangement), leaderboard.py (strengths and rates from the votes) and exports.py (votes and the
leaderboard as files)."""
