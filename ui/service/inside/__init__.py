"""Inside the simulator: what the predictor computes, beyond the text it samples (issue 20). trees.py (token trees:
the top-k continuations to a depth, each with its probability), whois.py (who is speaking: a text's likelihood under
each mask, and the posterior over masks), surprise.py (each token's entropy and surprisal, and where the forks are)
and contrast.py (two masks compared per step: KL and top-k overlap)."""
