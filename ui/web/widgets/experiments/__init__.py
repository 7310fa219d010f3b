"""Widgets of the Experiments page: setup.py (pick or edit a suite), progress.py (runs in progress), results.py,
chart.py and samples.py (one run's results, its figures and its samples)."""
