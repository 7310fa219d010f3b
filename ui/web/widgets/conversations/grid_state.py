"""What one drawing of a conversation reads, and what the user chose in it: the branch selection and the
streaming action a button asked for, both kept in session state for the browser session."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import streamlit as st

from ui.service.conversations.service import Conversations
from ui.service.read_models import ConversationView, Lane, SavedMessage, Turn
from ui.service.transcripts.service import Transcripts

ACTION = "grid_action"  # session state: the one streaming action to run in this script run

state = st.session_state


@dataclass
class LaneGrid:
    """Everything one drawing of a conversation needs, read once per script run."""

    service: Conversations
    transcripts: Transcripts
    view: ConversationView
    key: str  # prefixes every widget key: "" on Compare, "tr-" on Transcripts
    live: list[Any] = field(default_factory=list)  # live.Cell: running replies drawn in this script run

    @property
    def conversation_id(self) -> int:
        return self.view.conversation_id

    @property
    def lanes(self) -> list[Lane]:
        return self.view.lanes

    @property
    def turns(self) -> list[Turn[SavedMessage]]:
        return self.view.turns


def selection(conversation_id: int) -> dict[str, int]:
    """The branch choices the user made in this conversation (kept for the browser session)."""
    selections: dict[int, dict[str, int]] = state.setdefault("selections", {})
    return selections.setdefault(conversation_id, {})


def select(conversation_id: int, choice: str, message_id: int) -> None:
    selection(conversation_id)[choice] = message_id


def load(service: Conversations, transcripts: Transcripts, conversation_id: int, *, key: str) -> LaneGrid:
    """Raises NotFound when the conversation no longer exists."""
    return LaneGrid(service, transcripts, service.view(conversation_id, selection(conversation_id)), key)


# -- what a reply shows ---------------------------------------------------------------------------------


def request(**action: Any) -> None:
    state[ACTION] = action


def pending(grid: LaneGrid, user_id: int, lane_id: int) -> dict[str, Any] | None:
    action: dict[str, Any] | None = state.get(ACTION)
    if (
        action
        and action.get("conversation_id") == grid.conversation_id
        and action.get("user_id") == user_id
        and action.get("lane_id") == lane_id
    ):
        return action
    return None
