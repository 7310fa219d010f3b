"""Widgets for a conversation: lane_grid.py (lanes side by side, one row per turn), grid_state.py (what one drawing
reads and what the user chose), live.py (turn jobs on a page), tokens.py (the token view), annotations.py and
badges.py (mask-fidelity figures)."""
