# The table of persona directions (issue 21); migration 0010 creates it. A direction is a name's per-layer vectors
# with where they came from. A name is not unique: its newest row is the one a new steered lane uses, and older rows
# stay so that a reply steered with them still replays (a reply records the vector's sha256, not the row).

from datetime import datetime
from typing import Any

from sqlalchemy import LargeBinary
from sqlmodel import Field, SQLModel

from storage.tables.columns import UTCDateTime, json_column, utcnow


class Direction(SQLModel, table=True):
    __table_args__ = {"sqlite_autoincrement": True}

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=64, index=True)
    model_name: str
    model_sha256: str = Field(max_length=64)
    vector_sha256: str = Field(max_length=64, index=True)
    n_layer: int
    n_embd: int
    # float32, n_layer * n_embd values in C order (row il: what is added to layer il's output); 46 KB for gemma-3-270m.
    vectors: bytes = Field(sa_type=LargeBinary)
    best_layer: int
    # suite, run_id, toward and away masks, prompts, held_out, n {mask: replies}, layers [{layer, auc, low, high}],
    # positive: what a positive α pushes toward. Written and read by ui.service.vectors.
    provenance: dict[str, Any] = Field(default_factory=dict, sa_column=json_column(nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
