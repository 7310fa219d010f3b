# The tables of experiments (issue 12): a suite snapshot, its runs, each run's cells (lane x prompt) and samples.
# A sample is an ordinary Message (so Transcripts, the token view and annotations work on it); run_sample only
# links it to its run, cell, index, seed and scores. Migration 0006 creates these tables; 0012 adds what workers
# share a run by (issue 22): a cell's lease (who draws it, until when), the run's Stop flag and whole-run lease,
# and which worker drew each sample.

from datetime import datetime
from typing import Any

from sqlalchemy import Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from storage.tables.columns import SEED, UTCDateTime, json_column, utcnow

# queued: started, waiting for a worker; running: a worker has drawn from it (or holds it); then one of the rest.
RUN_STATUSES = ("queued", "running", "complete", "stopped", "failed")
UNFINISHED = ("queued", "running")


class Experiment(SQLModel, table=True):
    """One suite as it was when a run started: runs of an unchanged suite share it."""

    __table_args__ = {"sqlite_autoincrement": True}

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(index=True)
    description: str = Field(default="", sa_type=Text)
    claim: str = Field(default="", sa_type=Text)
    # The whole validated suite (personas.suites.Suite.model_dump()), so a run stays reproducible after edits.
    suite: dict[str, Any] = Field(sa_column=json_column(nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Run(SQLModel, table=True):
    __table_args__ = {"sqlite_autoincrement": True}

    id: int | None = Field(default=None, primary_key=True)
    experiment_id: int = Field(foreign_key="experiment.id", index=True, ondelete="CASCADE")
    status: str = "queued"  # one of RUN_STATUSES
    error: str | None = Field(default=None, sa_type=Text)
    # The run's own choices on top of the suite: samples per cell, lanes, base seed, sampling settings; and under
    # "results", what it computed from its samples as a whole (a persona direction's figures).
    settings: dict[str, Any] = Field(sa_column=json_column(nullable=False))
    # Lane model name -> sha256 of its file (None for chat models without one).
    model_sha256: dict[str, Any] = Field(sa_column=json_column(nullable=False))
    cells_total: int = 0
    samples_total: int = 0
    samples_done: int = 0
    # The run this one replays, if any.
    replay_of: int | None = None
    # Stop pressed: workers drawing the run see it within a second, release its cells, and it ends `stopped`.
    stop_requested: bool = False
    # A run that fits a direction before drawing lanes steered with it goes to one worker whole (its stages
    # follow one another); that worker holds the run's own lease instead of its cells'.
    whole: bool = False
    lease_owner: str | None = None
    lease_expires_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    started_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    finished_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class RunCell(SQLModel, table=True):
    """One lane x one prompt of a run: its samples share one conversation and one document."""

    __tablename__ = "run_cell"
    __table_args__ = (UniqueConstraint("run_id", "position"), {"sqlite_autoincrement": True})

    id: int | None = Field(default=None, primary_key=True)
    run_id: int = Field(foreign_key="run.id", index=True, ondelete="CASCADE")
    position: int
    lane: str
    prompt_index: int
    conversation_id: int | None = Field(default=None, foreign_key="conversation.id", ondelete="SET NULL")
    # next_token / choice results: scorer name -> {document, continuations: [{continuation, p, logprob}], ...}.
    likelihoods: dict[str, Any] | None = Field(default=None, sa_column=json_column(nullable=True))
    # The worker drawing the cell and until when; an expired lease (its worker died) is anyone's again.
    lease_owner: str | None = None
    lease_expires_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # Set when a worker has drawn all it could: with `error`, a sample failed (Resume clears both and retries).
    finished_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    error: str | None = Field(default=None, sa_type=Text)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class RunSample(SQLModel, table=True):
    __tablename__ = "run_sample"
    __table_args__ = (UniqueConstraint("cell_id", "sample_index"), {"sqlite_autoincrement": True})

    id: int | None = Field(default=None, primary_key=True)
    run_id: int = Field(foreign_key="run.id", index=True, ondelete="CASCADE")
    cell_id: int = Field(foreign_key="run_cell.id", index=True, ondelete="CASCADE")
    sample_index: int
    seed: int = Field(sa_type=SEED)
    message_id: int | None = Field(default=None, foreign_key="message.id", ondelete="SET NULL")
    # Scorer name -> value (bool for rates, float for metrics, None when the scorer could not score it).
    scores: dict[str, Any] = Field(sa_column=json_column(nullable=False))
    # How many times the request was sent again after a 429 or 5xx (a chat lane's, in a run).
    retries: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    # The batched group it was drawn in (who shared its decodes, in order), so replay and resume draw it again.
    batch: dict[str, Any] | None = Field(default=None, sa_column=json_column(nullable=True))
    # The worker that drew it (host:pid), for each worker's share of a run; None before migration 0012.
    worker: str | None = None
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
