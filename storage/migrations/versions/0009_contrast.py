"""contrast lanes: a lane's second mask and weight (lane.contrast), and the document it read with each reply
(message.contrast), so a contrast reply replays exactly

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07

Plain ADD COLUMNs, as in 0003: a batch migration would recreate `message` and drop 0002's search triggers.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("lane", sa.Column("contrast", sa.JSON(none_as_null=True), nullable=True))
    op.add_column("message", sa.Column("contrast", sa.JSON(none_as_null=True), nullable=True))


def downgrade() -> None:
    op.drop_column("message", "contrast")
    op.drop_column("lane", "contrast")
