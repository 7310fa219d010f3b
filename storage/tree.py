# The one walk through a conversation's message tree (see tables/conversations.py for the convention): from the first
# user message down, taking at each step the sibling the user selected, or the newest. The Compare page,
# Transcripts, the CLI and the exports all follow a conversation with it, so they agree on its path.

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar


class TreeMessage(Protocol):
    """What the walk reads of a message: a table row, an export row and a read model all have it."""

    @property
    def id(self) -> int | None: ...
    @property
    def parent_id(self) -> int | None: ...
    @property
    def lane_id(self) -> int | None: ...
    @property
    def role(self) -> str: ...


M = TypeVar("M", bound=TreeMessage)

# Which branch the path follows where the user chose one: user_choice(parent_id) -> user message id,
# reply_choice(user_id, lane_id) -> reply id. Plain string keys, so a selection can live in session state.
Selection = Mapping[str, int]


def user_choice(parent_id: int | None) -> str:
    return f"u{parent_id or 0}"


def reply_choice(user_id: int, lane_id: int) -> str:
    return f"r{user_id}-{lane_id}"


@dataclass
class Turn(Generic[M]):
    """One user message on the path, the reply the path shows for it in each lane, and the alternatives.

    `user_versions` are the user message and its edits (siblings in the tree), oldest first;
    `reply_versions[lane_id]` are that lane's replies to this user message (regenerations, samples and
    branches), oldest first. `replies` holds the one of each that the path follows.
    """

    user: M
    replies: dict[int, M] = field(default_factory=dict)
    user_versions: list[M] = field(default_factory=list)
    reply_versions: dict[int, list[M]] = field(default_factory=dict)


def walk(messages: Iterable[M], selection: Selection | None = None) -> list[Turn[M]]:
    """The path through the tree that `selection` picks, and the newest branch wherever it picks none.

    `messages` must come oldest first (by id): "newest" is the last sibling.
    """
    chosen = selection or {}
    children: dict[int | None, list[M]] = {}
    for message in messages:
        children.setdefault(message.parent_id, []).append(message)
    turns: list[Turn[M]] = []
    parent: int | None = None
    while True:
        users = [m for m in children.get(parent, []) if m.role == "user"]
        if not users:
            return turns
        user = _pick(users, chosen.get(user_choice(parent)))
        assert user.id is not None
        turn = Turn(user=user, user_versions=users)
        for reply in children.get(user.id, []):
            if reply.role == "model" and reply.lane_id is not None:
                turn.reply_versions.setdefault(reply.lane_id, []).append(reply)
        for lane_id, versions in turn.reply_versions.items():
            turn.replies[lane_id] = _pick(versions, chosen.get(reply_choice(user.id, lane_id)))
        turns.append(turn)
        parent = user.id


def picking(messages: Iterable[M], user_message_id: int) -> dict[str, int]:
    """A selection that puts `user_message_id` (and every user message above it) on the path."""
    by_id = {m.id: m for m in messages}
    picks: dict[str, int] = {}
    current = by_id.get(user_message_id)
    while current is not None and current.role == "user" and current.id is not None:
        picks[user_choice(current.parent_id)] = current.id
        current = by_id.get(current.parent_id) if current.parent_id is not None else None
    return picks


def _pick(versions: list[M], wanted: int | None) -> M:
    for message in versions:
        if message.id == wanted:
            return message
    return versions[-1]
