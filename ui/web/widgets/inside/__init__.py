"""Widgets that show what the simulator computes: tree.py (a token tree, drawn with graphviz), whois.py (who is
speaking: the masks ranked and the per-token heat map), surprise.py (entropy and surprisal curves under the token view)
and contrast.py (two lanes compared per step)."""
