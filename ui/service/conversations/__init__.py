"""Conversations and their turns: service.py (the Conversations a page or command uses), lanes.py (lane specs
and the settings a lane runs with), turns.py (replies that save themselves as they stream), jobs.py (turns as
server-side jobs), turn_lease.py (one turn at a time per conversation) and replays.py (what a replay found)."""
