# The database, and the only package that writes SQL. The service calls these modules: repo.py (conversations, lanes and
# messages; a reply's writes from replies.py, annotations, search and imports re-exported), experiments.py (suites,
# runs, cells, samples), judgements.py (blind-review votes), turn_leases.py (one turn at a time per conversation),
# tree.py (a conversation's path), imports.py, importscan.py and exports.py (conversation files in and out), copy.py
# (one database into another), db.py (the engine and the schema's revision) and errors.py. Beneath them: tables/ (the
# schema), search/ (full-text search), migrations/ (Alembic), exportfile.py (the file format), rows.py and bulk.py.
