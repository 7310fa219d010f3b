"""Conversations as the user sees them: lanes, the current path through the message tree, and turns that
save themselves as they stream. Plain Python shared by the CLI and the Streamlit pages."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict
from sqlalchemy.engine import Engine
from sqlmodel import Session

from personas.catalog import load_mask
from personas.mask import HistoryTurn, Mask
from simulator.errors import LaneSpecError
from simulator.events import LaneEvent, Reply, SamplingSettings
from simulator.registry import Registry
from simulator.turn import LaneConfig, run_turn
from storage import repo
from storage.tables import Lane, Message

FLUSH_EVERY_S = 0.5  # a streaming reply is written at least this often, so a crash loses under a second

_SPEC = re.compile(r"^(?P<model>[^@\s]+)(?:@(?P<mask>[a-z0-9][a-z0-9_.-]*))?$")


class LaneSetup(BaseModel):
    """A lane before it is saved: `MODEL[@MASK]` plus settings."""

    model_config = ConfigDict(extra="forbid")

    model: str
    mask: str | None = None
    system_prompt: str | None = None
    settings: SamplingSettings = SamplingSettings()
    label: str = ""

    @property
    def display_label(self) -> str:
        return self.label or (f"{self.model}@{self.mask}" if self.mask else self.model)


def parse_lane_spec(spec: str, settings: SamplingSettings | None = None) -> LaneSetup:
    """Parse `MODEL[@MASK]`, e.g. `base@assistant`, `chat`, `openai/gpt-4o-mini@assistant`.

    Raises:
        LaneSpecError: the text is not of that form.
    """
    match = _SPEC.match(spec.strip())
    if not match:
        raise LaneSpecError(
            f"cannot read lane '{spec}': write MODEL or MODEL@MASK, e.g. base@assistant, chat,"
            " or openai/gpt-4o-mini@assistant (mask names are lower-case)"
        )
    return LaneSetup(model=match["model"], mask=match["mask"], settings=settings or SamplingSettings())


@dataclass
class Turn:
    """One user message on the current path and, per lane id, the reply shown for it."""

    user: Message
    replies: dict[int, Message] = field(default_factory=dict)


@dataclass
class TurnUpdate:
    """What the UI redraws after each event: the lane's position, the event, and the reply so far."""

    position: int
    event: LaneEvent
    reply: Reply
    message_id: int | None


def history_for_lane(turns: list[Turn], lane_id: int | None) -> list[HistoryTurn]:
    """What a lane has seen on this path: every user message and that lane's non-empty replies."""
    history: list[HistoryTurn] = []
    for turn in turns:
        history.append(HistoryTurn(role="user", text=turn.user.content))
        reply = turn.replies.get(lane_id) if lane_id is not None else None
        if reply is not None and reply.content.strip():
            history.append(HistoryTurn(role="character", text=reply.content.strip()))
    return history


def lane_settings(lane: Lane) -> SamplingSettings:
    """A saved lane's sampling settings."""
    return SamplingSettings(
        temperature=lane.temperature,
        top_p=lane.top_p,
        top_k=lane.top_k,
        max_tokens=lane.max_tokens,
        seed=lane.seed,
        stop=list(lane.stop or []),
    )


class Conversations:
    """Create conversations, read their current path, and run turns that save as they stream."""

    def __init__(self, engine: Engine, registry: Registry, masks_dir: Any = None) -> None:
        self.engine = engine
        self.registry = registry
        self.masks_dir = masks_dir

    def mask(self, name: str | None) -> Mask | None:
        return None if name is None else load_mask(name, self.masks_dir)

    def create(self, setups: list[LaneSetup], title: str = "") -> int:
        """Save a conversation with these lanes; every model and mask is checked before anything is saved.

        Raises:
            MaskError, ModelUnavailable: a lane names an unknown mask or model.
        """
        resolved = [(setup, self.registry.resolve(setup.model), self.mask(setup.mask)) for setup in setups]
        with Session(self.engine) as session:
            conversation = repo.create_conversation(session=session, title=title)
            assert conversation.id is not None
            for position, (setup, entry, mask) in enumerate(resolved):
                self._add_lane(session, conversation.id, position, setup, entry.kind, mask)
            return conversation.id

    def add_lane(self, conversation_id: int, setup: LaneSetup) -> Lane:
        entry = self.registry.resolve(setup.model)
        mask = self.mask(setup.mask)
        with Session(self.engine) as session:
            position = len(repo.list_lanes(session=session, conversation_id=conversation_id))
            return self._add_lane(session, conversation_id, position, setup, entry.kind, mask)

    @staticmethod
    def _add_lane(
        session: Session, conversation_id: int, position: int, setup: LaneSetup, kind: Any, mask: Mask | None
    ) -> Lane:
        s = setup.settings
        return repo.add_lane(
            session=session,
            conversation_id=conversation_id,
            position=position,
            label=setup.display_label,
            kind=kind,
            model=setup.model,
            mask_name=setup.mask,
            # The card image can be megabytes and plays no part in what the model reads.
            mask_snapshot=mask.model_dump(mode="json", exclude={"card_image"}) if mask else None,
            system_prompt=setup.system_prompt,
            temperature=s.temperature,
            top_p=s.top_p,
            top_k=s.top_k,
            max_tokens=s.max_tokens,
            seed=s.seed,
            stop=s.stop,
        )

    def lanes(self, conversation_id: int) -> list[Lane]:
        with Session(self.engine) as session:
            return repo.list_lanes(session=session, conversation_id=conversation_id)

    def path(self, conversation_id: int) -> list[Turn]:
        """The current path: from the first user message, always the newest branch, with each lane's
        newest reply to every user message."""
        with Session(self.engine) as session:
            messages = repo.list_messages(session=session, conversation_id=conversation_id)
        children: dict[int | None, list[Message]] = {}
        for message in messages:
            children.setdefault(message.parent_id, []).append(message)
        turns: list[Turn] = []
        parent: int | None = None
        while True:
            users = [m for m in children.get(parent, []) if m.role == "user"]
            if not users:
                return turns
            user = users[-1]
            turn = Turn(user=user)
            assert user.id is not None
            for reply in children.get(user.id, []):
                if reply.role == "model" and reply.lane_id is not None:
                    turn.replies[reply.lane_id] = reply
            turns.append(turn)
            parent = user.id

    def send(self, conversation_id: int, text: str) -> Iterator[TurnUpdate]:
        """Broadcast `text` to every lane and stream their replies, saving as they go.

        The user's message is saved before any lane starts; each reply is saved as `incomplete` when its
        lane starts, written at least every FLUSH_EVERY_S seconds, and finalised when the lane ends.
        """
        lanes = self.lanes(conversation_id)
        turns = self.path(conversation_id)
        with Session(self.engine) as session:
            conversation = repo.get_conversation(session=session, conversation_id=conversation_id)
            if not conversation.title:
                repo.set_title(session=session, conversation_id=conversation_id, title=_title_from(text))
            user = repo.add_user_message(
                session=session,
                conversation_id=conversation_id,
                parent_id=turns[-1].user.id if turns else None,
                content=text,
            )
            user_turn = HistoryTurn(role="user", text=text)
            configs = [self._config(lane) for lane in lanes]
            histories = [[*history_for_lane(turns, lane.id), user_turn] for lane in lanes]
            replies = [Reply() for _ in lanes]
            message_ids: list[int | None] = [None] * len(lanes)
            last_flush = [0.0] * len(lanes)

            def begin(i: int, prompt: Any) -> int:
                message = repo.start_reply(
                    session=session,
                    conversation_id=conversation_id,
                    lane_id=lanes[i].id or 0,
                    parent_id=user.id,
                    prompt=prompt if prompt is not None else "",
                )
                assert message.id is not None
                last_flush[i] = time.monotonic()
                return message.id

            for event in run_turn(configs, histories, self.registry):
                i = event.lane_index
                reply = replies[i]
                if event.kind == "start":
                    reply.prompt = event.prompt
                    message_ids[i] = begin(i, event.prompt)
                elif event.kind == "notice" and event.notice:
                    reply.notices.append(event.notice)
                elif event.kind == "token" and event.token is not None:
                    reply.tokens.append(event.token)
                    reply.text += event.token.text
                    reply.timings = event.timings
                    message_id = message_ids[i]
                    if message_id is not None and time.monotonic() - last_flush[i] >= FLUSH_EVERY_S:
                        repo.update_reply(
                            session=session,
                            message_id=message_id,
                            content=reply.text,
                            tokens=[t.compact() for t in reply.tokens],
                        )
                        last_flush[i] = time.monotonic()
                elif event.kind in ("done", "error"):
                    reply.timings = event.timings
                    reply.finish_reason = event.finish_reason or ("error" if event.kind == "error" else None)
                    reply.status = "error" if event.kind == "error" else "complete"
                    reply.error = event.error
                    message_id = message_ids[i]
                    if message_id is None:
                        message_id = message_ids[i] = begin(i, reply.prompt)
                    repo.finish_reply(
                        session=session,
                        message_id=message_id,
                        content=reply.text,
                        tokens=[t.compact() for t in reply.tokens],
                        status=reply.status,
                        finish_reason=reply.finish_reason,
                        error=reply.error,
                        ttft_ms=reply.timings.ttft_ms,
                        total_ms=reply.timings.total_ms,
                        tokens_per_s=reply.timings.tokens_per_s,
                    )
                yield TurnUpdate(position=i, event=event, reply=reply, message_id=message_ids[i])

    def _config(self, lane: Lane) -> LaneConfig:
        mask = Mask.model_validate(lane.mask_snapshot) if lane.mask_snapshot else None
        return LaneConfig(
            label=lane.label,
            model=lane.model,
            mask=mask,
            system_prompt=lane.system_prompt,
            settings=lane_settings(lane),
            key=f"lane-{lane.id}",
        )


def _title_from(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= 60 else line[:57] + "…"
