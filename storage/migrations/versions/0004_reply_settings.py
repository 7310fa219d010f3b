"""reply settings: the sampling settings a reply ran with (a turn can override its lane's, e.g. ask --max-tokens)

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29

A plain ADD COLUMN, as in 0003: a batch migration would recreate `message` and drop 0002's search triggers.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("message", sa.Column("settings", sa.JSON(none_as_null=True), nullable=True))


def downgrade() -> None:
    op.drop_column("message", "settings")
