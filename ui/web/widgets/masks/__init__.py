"""Widgets of the Masks page: library.py (search, pick, import and export), editor.py (one field at a time, with its
errors) and preview.py (lift the mask: the exact document a simulator reads)."""
