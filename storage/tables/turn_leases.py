# The turn lease table (issue 18): one row per conversation whose turn is running; storage/turn_leases.py
# takes, renews and releases it. Migration 0008 creates the table.

from datetime import datetime

from sqlmodel import Field, SQLModel

from storage.tables.columns import UTCDateTime, utcnow


class TurnLease(SQLModel, table=True):
    __tablename__ = "turn_lease"

    conversation_id: int = Field(foreign_key="conversation.id", primary_key=True, ondelete="CASCADE")
    # Who holds it: host, process and instance, so a process's own lease is told apart from another's.
    holder: str = Field(max_length=200)
    taken_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    renewed_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime)
