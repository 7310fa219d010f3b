"""Experiments: a suite's cells run as seeded samples, scored and reported. service.py (the Experiments a page or
command uses), plan.py (check a suite and lay out its cells), cells.py (run one cell), jobs.py (runs as server-side
jobs), scorers.py (score one reply), judges.py (the LLM judge scorer), aggregate.py (a run's rates, intervals and
verdicts from its samples), report_models.py (the typed report parts and run rows), report.py (the report and its
JSON, Markdown and CSV exports), replay.py (compare a replay with its run) and sources.py (suites as TOML text)."""
