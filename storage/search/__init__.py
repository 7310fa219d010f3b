# Search across transcripts: query.py (the one entry: filters, hits, counts), with one backend per database:
# fts5.py (SQLite FTS5), tsvector.py (PostgreSQL text search), like.py (no index), and words.py (what they share).
