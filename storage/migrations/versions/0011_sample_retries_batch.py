"""throughput (issue 22): each run sample records how many times its request was retried (a chat lane's 429s and
5xxs in a run) and the batched group it was drawn in (its layout: who shared its decodes), so a replay or a resume
draws the same groups and repeats it exactly

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07

Plain ADD COLUMNs, as in 0010: the same on SQLite and PostgreSQL.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("run_sample", sa.Column("retries", sa.Integer(), nullable=False, server_default="0"))
    op.add_column("run_sample", sa.Column("batch", sa.JSON(none_as_null=True), nullable=True))


def downgrade() -> None:
    op.drop_column("run_sample", "batch")
    op.drop_column("run_sample", "retries")
