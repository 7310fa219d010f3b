"""experiments: suite snapshots, their runs, each run's cells (lane x prompt) and samples (issue 12)

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29

Plain CREATE TABLE / CREATE INDEX, as on SQLite and PostgreSQL alike. A sample's text is an ordinary message;
run_sample only links it (SET NULL when the conversation is deleted) with its seed and scores.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "experiment",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("claim", sa.Text(), nullable=False),
        sa.Column("suite", sa.JSON(none_as_null=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_experiment")),
        sqlite_autoincrement=True,
    )
    op.create_index(op.f("ix_experiment_name"), "experiment", ["name"], unique=False)

    op.create_table(
        "run",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("experiment_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("settings", sa.JSON(none_as_null=True), nullable=False),
        sa.Column("model_sha256", sa.JSON(none_as_null=True), nullable=False),
        sa.Column("cells_total", sa.Integer(), nullable=False),
        sa.Column("samples_total", sa.Integer(), nullable=False),
        sa.Column("samples_done", sa.Integer(), nullable=False),
        sa.Column("replay_of", sa.Integer(), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["experiment_id"], ["experiment.id"], name=op.f("fk_run_experiment_id_experiment"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_run")),
        sqlite_autoincrement=True,
    )
    op.create_index(op.f("ix_run_experiment_id"), "run", ["experiment_id"], unique=False)

    op.create_table(
        "run_cell",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("lane", sa.String(), nullable=False),
        sa.Column("prompt_index", sa.Integer(), nullable=False),
        sa.Column("conversation_id", sa.Integer(), nullable=True),
        sa.Column("likelihoods", sa.JSON(none_as_null=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversation.id"],
            name=op.f("fk_run_cell_conversation_id_conversation"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(["run_id"], ["run.id"], name=op.f("fk_run_cell_run_id_run"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_run_cell")),
        sa.UniqueConstraint("run_id", "position", name=op.f("uq_run_cell_run_id")),
        sqlite_autoincrement=True,
    )
    op.create_index(op.f("ix_run_cell_run_id"), "run_cell", ["run_id"], unique=False)

    op.create_table(
        "run_sample",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("cell_id", sa.Integer(), nullable=False),
        sa.Column("sample_index", sa.Integer(), nullable=False),
        sa.Column("seed", sa.Integer().with_variant(sa.BigInteger(), "postgresql"), nullable=False),
        sa.Column("message_id", sa.Integer(), nullable=True),
        sa.Column("scores", sa.JSON(none_as_null=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["cell_id"], ["run_cell.id"], name=op.f("fk_run_sample_cell_id_run_cell"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["message_id"], ["message.id"], name=op.f("fk_run_sample_message_id_message"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(["run_id"], ["run.id"], name=op.f("fk_run_sample_run_id_run"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_run_sample")),
        sa.UniqueConstraint("cell_id", "sample_index", name=op.f("uq_run_sample_cell_id")),
        sqlite_autoincrement=True,
    )
    op.create_index(op.f("ix_run_sample_cell_id"), "run_sample", ["cell_id"], unique=False)
    op.create_index(op.f("ix_run_sample_run_id"), "run_sample", ["run_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_run_sample_run_id"), table_name="run_sample")
    op.drop_index(op.f("ix_run_sample_cell_id"), table_name="run_sample")

    op.drop_table("run_sample")
    op.drop_index(op.f("ix_run_cell_run_id"), table_name="run_cell")

    op.drop_table("run_cell")
    op.drop_index(op.f("ix_run_experiment_id"), table_name="run")

    op.drop_table("run")
    op.drop_index(op.f("ix_experiment_name"), table_name="experiment")

    op.drop_table("experiment")
