"""Conversations as the user sees them: lanes, the current path through the message tree, and turns that
save themselves as they stream. Plain Python shared by the CLI and the Streamlit pages."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from pydantic import BaseModel, ConfigDict
from sqlalchemy.engine import Engine
from sqlmodel import Session

from personas.catalog import load_mask
from personas.mask import HistoryTurn, Mask
from simulator.errors import LaneSpecError
from simulator.events import LaneEvent, Reply, SamplingSettings, Token
from simulator.registry import Registry
from simulator.turn import LaneConfig, run_turn
from storage import repo
from storage.tables import Lane, Message

MAX_SAMPLES = 8
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
    """One user message on the current path, the reply shown for it in each lane, and the alternatives.

    `user_versions` are the user message and its edits (siblings in the tree), oldest first;
    `reply_versions[lane_id]` are that lane's replies to this user message (regenerations, samples and
    branches), oldest first. `replies` holds the one of each that the path follows.
    """

    user: Message
    replies: dict[int, Message] = field(default_factory=dict)
    user_versions: list[Message] = field(default_factory=list)
    reply_versions: dict[int, list[Message]] = field(default_factory=dict)


# Which branch the path follows, where the user chose one (otherwise the newest):
# user_choice(parent_id) -> user message id, reply_choice(user_id, lane_id) -> reply id.
Selection = Mapping[str, int]


def user_choice(parent_id: int | None) -> str:
    return f"u{parent_id or 0}"


def reply_choice(user_id: int, lane_id: int) -> str:
    return f"r{user_id}-{lane_id}"


@dataclass
class TurnUpdate:
    """What the UI redraws after each event: the job's position, the event, and the reply so far."""

    position: int
    event: LaneEvent
    reply: Reply
    message_id: int | None
    lane_id: int | None = None
    user_id: int | None = None  # the user message the reply answers


@dataclass(frozen=True)
class _Job:
    """One reply to produce: which lane, with what config and history, under which user message."""

    lane: Lane
    config: LaneConfig
    history: list[HistoryTurn]
    parent_id: int
    diverged_from_id: int | None = None
    diverged_at: int | None = None


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

    def path(self, conversation_id: int, selection: Selection | None = None) -> list[Turn]:
        """The path through the tree that `selection` picks, and the newest branch wherever it picks none."""
        return _walk(self._messages(conversation_id), selection or {})

    def _messages(self, conversation_id: int) -> list[Message]:
        with Session(self.engine) as session:
            return repo.list_messages(session=session, conversation_id=conversation_id)

    def send(
        self,
        conversation_id: int,
        text: str,
        *,
        selection: Selection | None = None,
        replacing: int | None = None,
        samples: int = 1,
    ) -> Iterator[TurnUpdate]:
        """Broadcast `text` to every lane and stream their replies, saving as they go.

        The message continues the selected path; with `replacing` (a turn index on that path) it is an
        edit of that turn's user message instead: a sibling of it, which starts a new branch. Each base
        lane draws `samples` replies (siblings, each with its own recorded seed); chat lanes draw one.
        The user's message is saved before any lane starts; each reply is saved as `incomplete` when its
        lane starts, written at least every FLUSH_EVERY_S seconds, and finalised when the lane ends.
        """
        lanes = self.lanes(conversation_id)
        for lane in lanes:  # checked before the user's message is saved
            self._sample_configs(lane, samples if lane.kind == "simulator" else 1)
        turns = self.path(conversation_id, selection)
        if replacing is not None:
            if not 0 <= replacing < len(turns):
                raise LaneSpecError(f"there is no turn {replacing + 1} to edit on this path")
            turns = turns[:replacing]
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
        assert user.id is not None
        user_turn = HistoryTurn(role="user", text=text)
        jobs = [
            _Job(lane, config, [*history_for_lane(turns, lane.id), user_turn], user.id)
            for lane in lanes
            for config in self._sample_configs(lane, samples if lane.kind == "simulator" else 1)
        ]
        yield from self._run(conversation_id, jobs)

    def regenerate(
        self,
        conversation_id: int,
        user_message_id: int,
        lane_id: int,
        *,
        samples: int = 1,
        selection: Selection | None = None,
    ) -> Iterator[TurnUpdate]:
        """Draw `samples` new replies from one lane to one user message on the selected path: new siblings
        of the replies already there, each with its own seed (recorded), unless the lane fixes one.

        Raises:
            LaneSpecError: the message is not on the selected path, or samples is outside 1..MAX_SAMPLES.
        """
        lane, turns, index = self._locate(conversation_id, user_message_id, lane_id, selection)
        history = [*history_for_lane(turns[:index], lane_id), HistoryTurn(role="user", text=turns[index].user.content)]
        jobs = [_Job(lane, config, history, user_message_id) for config in self._sample_configs(lane, samples)]
        yield from self._run(conversation_id, jobs)

    def branch(
        self, message_id: int, at: int, token: Token, *, selection: Selection | None = None
    ) -> Iterator[TurnUpdate]:
        """Continue a base-lane reply from its first `at` tokens plus `token` instead of what it wrote there:
        a new sibling that keeps the original's document and records where it diverged.

        Raises:
            LaneSpecError: the reply has no recorded tokens or document, or `at` is outside it.
        """
        source, lane, history = self._source(message_id, selection)
        tokens = [Token.from_compact(t) for t in source.tokens or []]
        if not isinstance(source.prompt, str) or lane.kind != "simulator":
            raise LaneSpecError(f"message {message_id} is not a base-lane reply: only those can branch from a token")
        if not 0 <= at <= len(tokens):
            raise LaneSpecError(
                f"cannot branch at token {at}: message {message_id} has {len(tokens)} tokens (0..{len(tokens)})"
            )
        if at < len(tokens) and not token.top:
            # Same document, same first tokens: the model weighed the same alternatives at this position.
            token = token.model_copy(update={"top": tokens[at].top})
        config = replace(self._config(lane), document=source.prompt, prefix=(*tokens[:at], token))
        assert source.parent_id is not None
        job = _Job(lane, config, history, source.parent_id, diverged_from_id=message_id, diverged_at=at)
        yield from self._run(source.conversation_id, [job])

    def replay(self, message_id: int, *, selection: Selection | None = None) -> Iterator[TurnUpdate]:
        """Run a base-lane reply again from its saved document, settings and seed: a new sibling that should
        match it exactly on the same model file (compare `model_sha256`).

        Raises:
            LaneSpecError: the reply is not a finished base-lane reply with a recorded seed.
        """
        source, lane, history = self._source(message_id, selection)
        if lane.kind != "simulator" or not isinstance(source.prompt, str) or source.seed is None:
            raise LaneSpecError(f"message {message_id} has no recorded document and seed to replay")
        tokens = [Token.from_compact(t) for t in source.tokens or []]
        prefix = tuple(tokens[: source.diverged_at + 1]) if source.diverged_at is not None else ()
        settings = lane_settings(lane).model_copy(update={"seed": source.seed})
        config = replace(self._config(lane), document=source.prompt, prefix=prefix, settings=settings)
        assert source.parent_id is not None
        job = _Job(lane, config, history, source.parent_id, diverged_from_id=source.diverged_from_id,
                   diverged_at=source.diverged_at)  # fmt: skip
        yield from self._run(source.conversation_id, [job])

    def _locate(
        self, conversation_id: int, user_message_id: int, lane_id: int, selection: Selection | None
    ) -> tuple[Lane, list[Turn], int]:
        lanes = {lane.id: lane for lane in self.lanes(conversation_id)}
        if lane_id not in lanes:
            raise LaneSpecError(f"lane {lane_id} is not a lane of conversation {conversation_id}")
        messages = self._messages(conversation_id)
        turns = _walk(messages, {**(selection or {}), **_picking(messages, user_message_id)})
        for index, turn in enumerate(turns):
            if turn.user.id == user_message_id:
                return lanes[lane_id], turns, index
        raise LaneSpecError(f"message {user_message_id} is not a user message of conversation {conversation_id}")

    def _source(self, message_id: int, selection: Selection | None) -> tuple[Message, Lane, list[HistoryTurn]]:
        """A saved reply, its lane, and the history that lane had seen when it wrote it."""
        with Session(self.engine) as session:
            source = session.get(Message, message_id)
        if source is None or source.role != "model" or source.lane_id is None or source.parent_id is None:
            raise LaneSpecError(f"message {message_id} is not a saved reply")
        lane, turns, index = self._locate(source.conversation_id, source.parent_id, source.lane_id, selection)
        history = [*history_for_lane(turns[:index], lane.id), HistoryTurn(role="user", text=turns[index].user.content)]
        return source, lane, history

    def _run(self, conversation_id: int, jobs: list[_Job]) -> Iterator[TurnUpdate]:
        replies = [Reply() for _ in jobs]
        message_ids: list[int | None] = [None] * len(jobs)
        last_flush = [0.0] * len(jobs)
        with Session(self.engine) as session:

            def begin(i: int, prompt: Any) -> int:
                job = jobs[i]
                message = repo.start_reply(
                    session=session,
                    conversation_id=conversation_id,
                    lane_id=job.lane.id or 0,
                    parent_id=job.parent_id,
                    prompt=prompt if prompt is not None else "",
                    diverged_from_id=job.diverged_from_id,
                    diverged_at=job.diverged_at,
                )
                assert message.id is not None
                last_flush[i] = time.monotonic()
                return message.id

            configs = [job.config for job in jobs]
            histories = [job.history for job in jobs]
            for event in run_turn(configs, histories, self.registry):
                i = event.lane_index
                reply = replies[i]
                if event.kind == "start":
                    reply.prompt = event.prompt
                    reply.diverged_at = jobs[i].diverged_at
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
                    _finish(reply, event)
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
                        seed=reply.seed,
                        model_sha256=reply.model_sha256,
                        metrics=None if reply.metrics is None else reply.metrics.model_dump(mode="json"),
                    )
                yield TurnUpdate(
                    position=i, event=event, reply=reply, message_id=message_ids[i], lane_id=jobs[i].lane.id,
                    user_id=jobs[i].parent_id,
                )  # fmt: skip

    def _sample_configs(self, lane: Lane, samples: int) -> list[LaneConfig]:
        """`samples` copies of the lane's config; each copy has its own llama.cpp context key, so they run
        side by side, and its own seed: random, or the lane's fixed seed plus the sample's number.

        Raises:
            LaneSpecError: samples is outside 1..MAX_SAMPLES.
        """
        if not 1 <= samples <= MAX_SAMPLES:
            raise LaneSpecError(f"draw between 1 and {MAX_SAMPLES} samples, not {samples}")
        config = self._config(lane)
        if samples == 1:
            return [config]
        seed = config.settings.seed
        return [
            replace(
                config,
                key=f"{config.key}-s{n}",
                settings=config.settings.model_copy(update={"seed": None if seed is None else seed + n}),
            )
            for n in range(samples)
        ]

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


def _finish(reply: Reply, event: LaneEvent) -> None:
    reply.timings = event.timings
    reply.finish_reason = event.finish_reason or ("error" if event.kind == "error" else None)
    reply.status = "error" if event.kind == "error" else "complete"
    reply.error = event.error
    reply.seed = event.seed
    reply.model_sha256 = event.model_sha256
    reply.metrics = event.metrics


def _walk(messages: list[Message], selection: Selection) -> list[Turn]:
    """Follow the tree from the first user message, taking the selected sibling (or the newest) at each step."""
    children: dict[int | None, list[Message]] = {}
    for message in messages:
        children.setdefault(message.parent_id, []).append(message)
    turns: list[Turn] = []
    parent: int | None = None
    while True:
        users = [m for m in children.get(parent, []) if m.role == "user"]
        if not users:
            return turns
        user = _chosen(users, selection.get(user_choice(parent)))
        assert user.id is not None
        turn = Turn(user=user, user_versions=users)
        for reply in children.get(user.id, []):
            if reply.role == "model" and reply.lane_id is not None:
                turn.reply_versions.setdefault(reply.lane_id, []).append(reply)
        for lane_id, versions in turn.reply_versions.items():
            turn.replies[lane_id] = _chosen(versions, selection.get(reply_choice(user.id, lane_id)))
        turns.append(turn)
        parent = user.id


def _picking(messages: list[Message], user_message_id: int) -> dict[str, int]:
    """A selection that puts `user_message_id` (and every user message above it) on the path."""
    by_id = {m.id: m for m in messages}
    picks: dict[str, int] = {}
    current = by_id.get(user_message_id)
    while current is not None and current.role == "user" and current.id is not None:
        picks[user_choice(current.parent_id)] = current.id
        current = by_id.get(current.parent_id) if current.parent_id is not None else None
    return picks


def _chosen(versions: list[Message], wanted: int | None) -> Message:
    for message in versions:
        if message.id == wanted:
            return message
    return versions[-1]


def _title_from(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= 60 else line[:57] + "…"
