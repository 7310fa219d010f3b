# One writer per conversation (issue 18): a turn holds its conversation's lease, a row whose primary key is the
# conversation, so two processes or app instances can never both hold it; the database's unique key decides,
# on SQLite and PostgreSQL alike. A lease expires unless its holder renews it, so a killed holder (kill -9, a
# lost machine) locks its conversation only until then. Migration 0008 creates the table.
# Expiry is judged by the clocks of the processes that share the database: keep a team's machines on NTP.

from datetime import timedelta

from sqlalchemy import delete, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from storage.rows import get_row
from storage.tables import Conversation, TurnLease, utcnow

__all__ = ["TurnLease", "lease_of", "release_turn_lease", "renew_turn_lease", "take_turn_lease"]


def take_turn_lease(*, session: Session, conversation_id: int, holder: str, seconds: float) -> bool:
    """Take the conversation's lease for `seconds` unless someone holds it: True when taken. An expired lease
    is anyone's.

    Raises:
        NotFound: there is no such conversation.
    """
    now = utcnow()
    # The first statement writes, so SQLite takes its write lock here (a read first could not upgrade in WAL).
    session.exec(  # type: ignore[call-overload]
        delete(TurnLease).where(col(TurnLease.conversation_id) == conversation_id, col(TurnLease.expires_at) <= now)
    )
    session.add(
        TurnLease(
            conversation_id=conversation_id,
            holder=holder,
            taken_at=now,
            renewed_at=now,
            expires_at=now + timedelta(seconds=seconds),
        )
    )
    try:
        session.commit()
    except IntegrityError:
        # Held by someone else, or (a foreign key) no such conversation: tell the two apart.
        session.rollback()
        get_row(session, Conversation, conversation_id)
        return False
    return True


def renew_turn_lease(*, session: Session, conversation_id: int, holder: str, seconds: float) -> bool:
    """Push the lease's expiry `seconds` from now: False when `holder` no longer holds it (it expired and was
    taken, or the conversation was deleted)."""
    now = utcnow()
    result = session.exec(  # type: ignore[call-overload]
        update(TurnLease)
        .where(col(TurnLease.conversation_id) == conversation_id, col(TurnLease.holder) == holder)
        .values(renewed_at=now, expires_at=now + timedelta(seconds=seconds))
    )
    session.commit()
    return bool(result.rowcount)


def release_turn_lease(*, session: Session, conversation_id: int, holder: str) -> None:
    """Give the lease back (only `holder`'s: one that expired and was taken by another stays theirs)."""
    session.exec(  # type: ignore[call-overload]
        delete(TurnLease).where(col(TurnLease.conversation_id) == conversation_id, col(TurnLease.holder) == holder)
    )
    session.commit()


def lease_of(*, session: Session, conversation_id: int) -> TurnLease | None:
    """The conversation's lease while it holds (not expired), else None."""
    statement = select(TurnLease).where(
        col(TurnLease.conversation_id) == conversation_id, col(TurnLease.expires_at) > utcnow()
    )
    return session.exec(statement).first()
