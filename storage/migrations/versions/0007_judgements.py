"""judgements: blind pairwise votes on two replies, the order they were shown in, and structured answers (issue 13)

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29

Plain CREATE TABLE / CREATE INDEX, as on SQLite and PostgreSQL alike. One vote per reviewer and pair (unique).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "judgement",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("pair", sa.String(length=64), nullable=False),
        sa.Column("left_message_id", sa.Integer(), nullable=False),
        sa.Column("right_message_id", sa.Integer(), nullable=False),
        sa.Column("better", sa.String(), nullable=False),
        sa.Column("answers", sa.JSON(none_as_null=True), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("reviewer", sa.String(length=64), nullable=False),
        sa.Column("question_set", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["left_message_id"],
            ["message.id"],
            name=op.f("fk_judgement_left_message_id_message"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["right_message_id"],
            ["message.id"],
            name=op.f("fk_judgement_right_message_id_message"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_judgement")),
        sa.UniqueConstraint("pair", "reviewer", name=op.f("uq_judgement_pair")),
        sqlite_autoincrement=True,
    )
    for column in ("pair", "left_message_id", "right_message_id", "reviewer", "created_at"):
        op.create_index(op.f(f"ix_judgement_{column}"), "judgement", [column], unique=False)


def downgrade() -> None:
    for column in ("created_at", "reviewer", "right_message_id", "left_message_id", "pair"):
        op.drop_index(op.f(f"ix_judgement_{column}"), table_name="judgement")
    op.drop_table("judgement")
