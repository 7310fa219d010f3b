"""annotation reviewer: who wrote an annotation (the reviewer name of the browser session or the CLI)

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30

A plain ADD COLUMN, as in 0003 and 0004: a batch migration would recreate `annotation` and drop 0002's search
triggers. Nullable: annotations written before this have no reviewer. Works on SQLite and PostgreSQL alike.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("annotation", sa.Column("reviewer", sa.String(length=64), nullable=True))


def downgrade() -> None:
    op.drop_column("annotation", "reviewer")
