"""Experiments: a suite's cells run as seeded samples, scored and reported. service.py (the Experiments a page or
command uses), plan.py (check a suite and lay out its cells), cells.py (run one cell), jobs.py (runs as server-side
jobs), scorers.py (score one reply), judges.py (the LLM judge scorer), report.py (rates, intervals, verdicts and
their exports), replay.py (compare a replay with its run) and sources.py (suites as TOML text)."""
