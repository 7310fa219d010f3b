"""Experiments: a suite's cells run as seeded samples, scored and reported. service.py (the Experiments a page or
command uses), plan.py (check a suite and lay out its cells), cells.py (run one cell), jobs.py (runs as server-side
jobs), scorers.py (score one reply), judges.py (the LLM judge scorer), aggregate.py (a run's figures and its
expectations' verdicts), report_models.py (the report's typed parts), report.py (the report and its exports),
replay.py (compare a replay with its run) and sources.py (suites as TOML text)."""
