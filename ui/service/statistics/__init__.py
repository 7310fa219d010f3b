"""The statistics experiments and review share, on plain numbers: rates.py (Wilson and bootstrap intervals, the
verdict rule, samples needed to decide) and ranking.py (Bradley–Terry strengths, agreement as kappa)."""
