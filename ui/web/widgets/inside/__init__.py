"""Widgets that show what the simulator computes: tree.py (a token tree, drawn with graphviz),
tree_compare.py (2–4 masks' trees on one user message side by side), whois.py (who is
speaking: the masks ranked and the per-token heat map), surprise.py (the entropy and surprisal curve under the token
view) and contrast.py (two masks compared per step)."""
