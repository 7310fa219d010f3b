"""workers (issue 22): a run queued in the database and drawn by any number of workers, each holding a lease on
the cells it draws (run_cell.lease_owner, lease_expires_at, finished_at, error), or on a run it draws whole
(run.lease_owner, lease_expires_at, whole); Stop as a flag workers read (run.stop_requested); and which worker
drew each sample (run_sample.worker)

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07

Plain ADD COLUMNs, as in 0009 and 0010; the NOT NULL flags get a server default so existing rows read false.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LEASE = ("lease_owner", "lease_expires_at")


def upgrade() -> None:
    op.add_column("run", sa.Column("stop_requested", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.add_column("run", sa.Column("whole", sa.Boolean(), nullable=False, server_default=sa.false()))
    for table in ("run", "run_cell"):
        op.add_column(table, sa.Column("lease_owner", sa.String(), nullable=True))
        op.add_column(table, sa.Column("lease_expires_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("run_cell", sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("run_cell", sa.Column("error", sa.Text(), nullable=True))
    op.add_column("run_sample", sa.Column("worker", sa.String(), nullable=True))


def downgrade() -> None:
    op.drop_column("run_sample", "worker")
    op.drop_column("run_cell", "error")
    op.drop_column("run_cell", "finished_at")
    for table in ("run_cell", "run"):
        for column in reversed(LEASE):
            op.drop_column(table, column)
    op.drop_column("run", "whole")
    op.drop_column("run", "stop_requested")
