"""Widgets that show what the simulator computes: tree.py (a token tree, drawn with graphviz), whois.py (who is
speaking: the masks ranked and the per-token heat map), surprise.py (the entropy and surprisal curve under the token
view) and contrast.py (two masks compared per step)."""
