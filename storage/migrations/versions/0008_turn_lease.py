"""turn lease: one turn at a time per conversation, held by one process or app instance (issue 18)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07

A plain CREATE TABLE, as on SQLite and PostgreSQL alike. The conversation is the primary key, so the database
refuses a second holder; the lease goes with its conversation (CASCADE).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "turn_lease",
        sa.Column("conversation_id", sa.Integer(), nullable=False),
        sa.Column("holder", sa.String(length=200), nullable=False),
        sa.Column("taken_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("renewed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversation.id"],
            name=op.f("fk_turn_lease_conversation_id_conversation"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("conversation_id", name=op.f("pk_turn_lease")),
    )


def downgrade() -> None:
    op.drop_table("turn_lease")
