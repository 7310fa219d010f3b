"""The application layer the pages and the CLI share, plain Python with no Streamlit: conversations/ (lanes, turns and
turn jobs), transcripts/ (search, annotations, exports and imports), experiments/ (suites run and reported), review/
(blind pairs, votes and the leaderboard) and statistics/ (intervals, the verdict rule, rankings); beside them
workspace.py (one process's services), background.py (the job manager turns and runs share), settings.py,
read_models.py (what the front ends read), errors.py, database.py, access.py and lockout.py (the password gate) and
probes.py (what remote servers serve)."""
