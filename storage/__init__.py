# The database: SQLModel tables, Alembic migrations, and repo.py, the functions the rest of the app calls.
