"""reply provenance and mask fidelity: the seed and model file behind a reply, its metrics, its branch point

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22

Plain ADD COLUMNs only: a batch migration would recreate `message` and drop 0002's search triggers.
diverged_from_id has no foreign key for the same reason (SQLite cannot add one without recreating the
table); storage.imports remaps it like parent_id, and a dangling value only loses the "diverged here" mark.
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = (
    # llama.cpp seeds go up to 2**32 - 1: SQLite's INTEGER holds 64 bits, PostgreSQL's only 32, so BIGINT there.
    ("seed", sa.Integer().with_variant(sa.BigInteger(), "postgresql")),
    ("model_sha256", sa.String()),
    ("metrics", sa.JSON(none_as_null=True)),
    ("diverged_from_id", sa.Integer()),
    ("diverged_at", sa.Integer()),
)


def upgrade() -> None:
    for name, type_ in COLUMNS:
        op.add_column("message", sa.Column(name, type_, nullable=True))


def downgrade() -> None:
    # DROP COLUMN needs SQLite 3.35+, which every supported Python ships; it keeps the search triggers.
    for name, _type in reversed(COLUMNS):
        op.drop_column("message", name)
