"""What the service tests of turns share: a turn's final updates (each lane's `done` or `error`), and a saved reply
read back as the pages read it."""

from __future__ import annotations

from collections.abc import Iterator

from sqlmodel import Session

from storage.tables import Message
from ui.service.conversations.service import Conversations, TurnUpdate
from ui.service.read_models import SavedMessage


def finals(updates: Iterator[TurnUpdate]) -> list[TurnUpdate]:
    """Each reply's last update, in the order the lanes finished."""
    return [u for u in updates if u.event.kind in ("done", "error")]


def saved(service: Conversations, message_id: int | None) -> SavedMessage:
    with Session(service.engine) as session:
        row = session.get(Message, message_id)
    assert row is not None
    return SavedMessage.from_row(row)
