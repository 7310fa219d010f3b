"""Saved conversations after the fact: service.py (search, rename, annotate, export, import) and exports.py
(every export format by name)."""
