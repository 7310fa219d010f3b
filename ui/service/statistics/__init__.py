"""The statistics experiments and review share, on plain numbers: rates.py (Wilson and bootstrap intervals, the
verdict rule, samples needed to decide), auc.py (the ROC AUC with a bootstrap interval: how well a number
separates two groups) and ranking.py (Bradley–Terry strengths, agreement as kappa)."""
