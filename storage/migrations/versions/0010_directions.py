"""persona directions (issue 21): the direction table (a name's per-layer vectors and their provenance), and the
steering a lane is set up with (lane.steering) and each reply was made with (message.steering)

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07

Plain ADD COLUMNs, as in 0003 and 0009: a batch migration would recreate `message` and drop 0002's search triggers.
A plain CREATE TABLE / CREATE INDEX for `direction`, the same on SQLite and PostgreSQL.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("lane", sa.Column("steering", sa.JSON(none_as_null=True), nullable=True))
    op.add_column("message", sa.Column("steering", sa.JSON(none_as_null=True), nullable=True))
    op.create_table(
        "direction",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("model_name", sa.String(), nullable=False),
        sa.Column("model_sha256", sa.String(length=64), nullable=False),
        sa.Column("vector_sha256", sa.String(length=64), nullable=False),
        sa.Column("n_layer", sa.Integer(), nullable=False),
        sa.Column("n_embd", sa.Integer(), nullable=False),
        sa.Column("vectors", sa.LargeBinary(), nullable=False),
        sa.Column("best_layer", sa.Integer(), nullable=False),
        sa.Column("provenance", sa.JSON(none_as_null=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_direction")),
        sqlite_autoincrement=True,
    )
    for column in ("name", "vector_sha256", "created_at"):
        op.create_index(op.f(f"ix_direction_{column}"), "direction", [column], unique=False)


def downgrade() -> None:
    for column in ("created_at", "vector_sha256", "name"):
        op.drop_index(op.f(f"ix_direction_{column}"), table_name="direction")
    op.drop_table("direction")
    op.drop_column("message", "steering")
    op.drop_column("lane", "steering")
