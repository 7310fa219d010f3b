"""Conversations as the user sees them: lanes, the selected path through the message tree, and turns that
save themselves as they stream. Plain Python shared by the CLI and the Streamlit pages."""

from __future__ import annotations

import threading
from collections.abc import Callable, Generator, Iterator, Mapping
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session

from personas.catalog import load_mask
from personas.mask import HistoryTurn, Mask
from simulator.errors import LaneSpecError
from simulator.events import Reply
from simulator.registry import Registry
from simulator.turn import LaneConfig, run_turn
from simulator.values import Contrast, SamplingSettings, Steering, Token
from storage import repo
from storage.tables import Lane, Message
from storage.tree import Selection, picking, reply_choice, user_choice, walk
from ui.service.conversations.lanes import (
    MAX_SAMPLES,
    LaneSpec,
    checked_contrast,
    checked_steering,
    history_for_lane,
    parse_lane_spec,
    replay_config,
    sample_configs,
    save_lane,
)
from ui.service.conversations.turn_lease import LEASE_S, turn_leases
from ui.service.conversations.turns import FLUSH_EVERY_S, Job, Plan, TurnUpdate, run_jobs
from ui.service.read_models import ConversationView, SavedMessage, Turn
from ui.service.vectors.service import Vectors

__all__ = [
    "FLUSH_EVERY_S",
    "MAX_SAMPLES",
    "Conversations",
    "LaneSpec",
    "Selection",
    "Turn",
    "TurnUpdate",
    "history_for_lane",
    "parse_lane_spec",
    "reply_choice",
    "user_choice",
]


class Conversations:
    """Create conversations, read their selected path, and run turns that save as they stream."""

    def __init__(
        self, engine: Engine, registry: Registry, masks_dir: Path | None = None, lease_s: float = LEASE_S
    ) -> None:
        self.engine = engine
        self.registry = registry
        self.masks_dir = masks_dir
        self.lease_s = lease_s

    def mask(self, name: str | None) -> Mask | None:
        return None if name is None else load_mask(name, self.masks_dir)

    @property
    def vectors(self) -> Vectors:
        """The persona directions steered lanes read (ui.service.vectors)."""
        return Vectors(self.engine, self.registry)

    def model_names(self) -> list[str]:
        """The registered models, bundled first: what a lane's model picker offers."""
        return list(self.registry.entries)

    # -- lanes and reading ------------------------------------------------------------------------------

    def create(self, specs: list[LaneSpec], title: str = "") -> int:
        """Save a conversation with these lanes; every model and mask is checked before anything is saved.

        Raises:
            MaskError, ModelUnavailable: a lane names an unknown mask or model, or a server that cannot serve it.
        """
        resolved = [(spec, self._checked(spec)) for spec in specs]
        with Session(self.engine) as session:
            conversation = repo.create_conversation(session=session, title=title)
            assert conversation.id is not None
            for position, (spec, checked) in enumerate(resolved):
                save_lane(session, conversation.id, position, spec, *checked)
            return conversation.id

    def add_lane(self, conversation_id: int, spec: LaneSpec) -> Lane:
        """A new lane in a saved conversation: it answers from the next message on."""
        checked = self._checked(spec)
        with Session(self.engine) as session:
            position = len(repo.list_lanes(session=session, conversation_id=conversation_id))
            return save_lane(session, conversation_id, position, spec, *checked)

    def _checked(self, spec: LaneSpec) -> tuple[str, Mask | None, Contrast | None, Steering | None]:
        """The lane's model kind, once its model is known to answer (a remote server is asked on first use), its
        mask, its contrast with the contrast mask's snapshot, and its steering looked up and checked.

        Raises:
            MaskError, ModelUnavailable, LaneSpecError: an unknown mask or model, or a contrast lane on a model
                that gives no logits to mix.
            ServiceError, SteeringRefused: a steered lane's direction is unknown, or cannot steer this model.
        """
        entry = self.registry.resolve(spec.model)
        steering = checked_steering(spec, entry, self.vectors)  # before a server is asked: steering needs none
        self.registry.check(entry)
        return entry.kind, self.mask(spec.mask), checked_contrast(spec, entry, self.mask), steering

    def lanes(self, conversation_id: int) -> list[Lane]:
        with Session(self.engine) as session:
            return repo.list_lanes(session=session, conversation_id=conversation_id)

    def path(self, conversation_id: int, selection: Selection | None = None) -> list[Turn[SavedMessage]]:
        """The path through the tree that `selection` picks, and the newest branch wherever it picks none."""
        return walk(self._messages(conversation_id), selection)

    def view(self, conversation_id: int, selection: Selection | None = None) -> ConversationView:
        """A conversation as a page draws it: lanes, the selected path with annotations, and the tags in use.

        Raises:
            NotFound: there is no such conversation.
        """
        with Session(self.engine) as session:
            conversation = repo.get_conversation(session=session, conversation_id=conversation_id)
            lanes = repo.list_lanes(session=session, conversation_id=conversation_id)
            rows = repo.list_messages(session=session, conversation_id=conversation_id)
            annotations = repo.list_annotations(session=session, conversation_id=conversation_id)
            known_tags = repo.search_filters(session=session).tags
        by_message: dict[int | None, list[repo.Annotation]] = {}
        for annotation in annotations:
            by_message.setdefault(annotation.message_id, []).append(annotation)
        messages = [SavedMessage.from_row(row, by_message.get(row.id)) for row in rows]
        turns = walk(messages, selection)
        return ConversationView(conversation, lanes, turns, by_message.get(None, []), known_tags)

    def history(
        self, conversation_id: int, lane_id: int | None = None, selection: Selection | None = None
    ) -> list[HistoryTurn]:
        """What a lane (by default the first) has seen on the selected path, e.g. to render a mask on it.

        Raises:
            NotFound: there is no such conversation.
        """
        with Session(self.engine) as session:
            repo.get_conversation(session=session, conversation_id=conversation_id)
        if lane_id is None:
            lanes = self.lanes(conversation_id)
            lane_id = lanes[0].id if lanes else None
        return history_for_lane(self.path(conversation_id, selection), lane_id)

    def _messages(self, conversation_id: int) -> list[SavedMessage]:
        with Session(self.engine) as session:
            rows = repo.list_messages(session=session, conversation_id=conversation_id)
        return [SavedMessage.from_row(row) for row in rows]

    # -- turns ------------------------------------------------------------------------------------------

    def hold(self, conversation_id: int, **options: Any) -> AbstractContextManager[None]:
        """The conversation's turn lease for a `with` block: TurnLeases.hold's `exclusive` (a new turn, the
        default), `wait` (queue behind a running turn instead of raising TurnBusy) and `on_wait`."""
        return turn_leases(self.engine).hold(conversation_id, seconds=self.lease_s, **options)

    def turn_running(self, conversation_id: int) -> bool:
        """Whether a turn runs in the conversation, in this process or any other sharing the database."""
        return turn_leases(self.engine).running(conversation_id)

    def send(
        self,
        conversation_id: int,
        text: str,
        *,
        selection: Selection | None = None,
        replacing: int | None = None,
        samples: int = 1,
        overrides: Mapping[str, Any] | None = None,
        wait: bool = False,
        on_wait: Callable[[], None] | None = None,
    ) -> Generator[TurnUpdate]:
        """plan_send, then run it here, streaming the updates (the CLI's way; the web app runs turns in its
        turn manager instead, so they outlive the page), holding the conversation's lease throughout.

        Raises:
            TurnBusy: a turn runs in the conversation (elsewhere) and `wait` is off; nothing is saved.
        """
        with self.hold(conversation_id, wait=wait, on_wait=on_wait):
            plan = self.plan_send(
                conversation_id, text, selection=selection, replacing=replacing, samples=samples, overrides=overrides
            )
            yield from self.run(plan)

    def run(self, plan: Plan, cancel: threading.Event | None = None) -> Iterator[TurnUpdate]:
        """Run a planned turn, saving every reply as it streams; setting `cancel` stops it (the lanes that had
        not finished are saved as incomplete, "stopped")."""
        yield from run_jobs(self.engine, self.registry, plan.conversation_id, plan.jobs, cancel)

    def plan_send(
        self,
        conversation_id: int,
        text: str,
        *,
        selection: Selection | None = None,
        replacing: int | None = None,
        samples: int = 1,
        overrides: Mapping[str, Any] | None = None,
    ) -> Plan:
        """Save `text` as the next user message and plan one reply per lane (a broadcast).

        `overrides` change sampling settings for this turn only (each reply records what it ran with).
        The message continues the selected path; with `replacing` (a turn index on that path) it is an
        edit of that turn's user message instead: a sibling of it, which starts a new branch. Each base
        lane draws `samples` replies (siblings, each with its own recorded seed); chat lanes draw one.
        The user's message is saved before any lane starts.
        """
        lanes = self.lanes(conversation_id)
        configs = {
            lane.id: sample_configs(lane, samples if lane.kind == "simulator" else 1, overrides, self.vectors)
            for lane in lanes
        }
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
            Job(lane, config, [*history_for_lane(turns, lane.id), user_turn], user.id)
            for lane in lanes
            for config in configs[lane.id]
        ]
        return Plan(conversation_id, jobs, user_id=user.id)

    def regenerate(
        self,
        conversation_id: int,
        user_message_id: int,
        lane_id: int,
        *,
        samples: int = 1,
        selection: Selection | None = None,
    ) -> Iterator[TurnUpdate]:
        """plan_regenerate, run here under the conversation's lease."""
        plan = self.plan_regenerate(conversation_id, user_message_id, lane_id, samples=samples, selection=selection)
        with self.hold(conversation_id, exclusive=False):
            yield from self.run(plan)

    def plan_regenerate(
        self,
        conversation_id: int,
        user_message_id: int,
        lane_id: int,
        *,
        samples: int = 1,
        selection: Selection | None = None,
    ) -> Plan:
        """Draw `samples` new replies from one lane to one user message on the selected path: new siblings
        of the replies already there, each with its own seed (recorded), unless the lane fixes one.

        Raises:
            LaneSpecError: the message is not on the selected path, or samples is outside 1..MAX_SAMPLES.
        """
        lane, turns, index = self._locate(conversation_id, user_message_id, lane_id, selection)
        history = [*history_for_lane(turns[:index], lane_id), HistoryTurn(role="user", text=turns[index].user.content)]
        jobs = [
            Job(lane, config, history, user_message_id)
            for config in sample_configs(lane, samples, vectors=self.vectors)
        ]
        return Plan(conversation_id, jobs, user_id=user_message_id)

    def branch(
        self, message_id: int, at: int, token: Token | str, *, selection: Selection | None = None, wait: bool = False
    ) -> Generator[TurnUpdate]:
        """plan_branch (which saves nothing), then run it here under the conversation's lease."""
        plan = self.plan_branch(message_id, at, token, selection=selection)
        with self.hold(plan.conversation_id, exclusive=False, wait=wait):
            yield from self.run(plan)

    def plan_branch(self, message_id: int, at: int, token: Token | str, *, selection: Selection | None = None) -> Plan:
        """Continue a base-lane reply from its first `at` tokens plus `token` instead of what it wrote there:
        a new sibling that keeps the original's document and records where it diverged. A token given as
        text gets the probability the model gave it there, when it was among the alternatives.

        Raises:
            LaneSpecError: the reply has no recorded tokens or document, or `at` is outside it.
        """
        source, lane, history = self._source(message_id, selection)
        tokens = source.tokens
        if not isinstance(source.prompt, str) or lane.kind != "simulator":
            raise LaneSpecError(f"message {message_id} is not a base-lane reply: only those can branch from a token")
        if not 0 <= at <= len(tokens):
            raise LaneSpecError(
                f"cannot branch at token {at}: message {message_id} has {len(tokens)} tokens (0..{len(tokens)})"
            )
        weighed = tokens[at].top if at < len(tokens) else []
        if isinstance(token, str):
            token = Token(text=token, p=next((alt.p for alt in weighed if alt.text == token), None))
        if weighed and not token.top:
            # Same document, same first tokens: the model weighed the same alternatives at this position.
            token = token.model_copy(update={"top": weighed})
        settings = source.settings or lane.settings
        config = replay_config(lane, source, self.vectors, prefix=(*tokens[:at], token), settings=settings)
        assert source.parent_id is not None
        job = Job(lane, config, history, source.parent_id, diverged_from_id=message_id, diverged_at=at)
        return Plan(source.conversation_id, [job], user_id=source.parent_id)

    def replay(self, message_id: int, *, selection: Selection | None = None) -> Iterator[TurnUpdate]:
        """plan_replay, run here under the conversation's lease."""
        plan = self.plan_replay(message_id, selection=selection)
        with self.hold(plan.conversation_id, exclusive=False):
            yield from self.run(plan)

    def plan_replay(self, message_id: int, *, selection: Selection | None = None) -> Plan:
        """Run a base-lane reply again from its saved document, settings and seed: a new sibling that should
        match it exactly on the same model file (compare `model_sha256`).

        Raises:
            LaneSpecError: the reply is not a finished base-lane reply with a recorded seed.
        """
        source, lane, history = self._source(message_id, selection)
        if lane.kind != "simulator" or not isinstance(source.prompt, str) or source.seed is None:
            raise LaneSpecError(f"message {message_id} has no recorded document and seed to replay")
        prefix = tuple(source.tokens[: source.diverged_at + 1]) if source.diverged_at is not None else ()
        settings = (source.settings or lane.settings).model_copy(update={"seed": source.seed})
        config = replay_config(lane, source, self.vectors, prefix=prefix, settings=settings)
        assert source.parent_id is not None
        job = Job(lane, config, history, source.parent_id, source.diverged_from_id, source.diverged_at)
        return Plan(source.conversation_id, [job], user_id=source.parent_id)

    def try_mask(
        self,
        model: str,
        mask: Mask,
        history: list[HistoryTurn],
        settings: SamplingSettings,
        cancel: threading.Event | None = None,
    ) -> Iterator[Reply]:
        """One unsaved turn of `mask` (as edited, perhaps not saved) in a scratch lane: the reply after each
        event. Nothing is written to the database."""
        reply = Reply()
        config = LaneConfig(label="try", model=model, mask=mask, settings=settings, key="masks-try")
        for event in run_turn([config], [history], self.registry, cancel=cancel):
            reply.apply(event)
            yield reply

    def _locate(
        self, conversation_id: int, user_message_id: int, lane_id: int, selection: Selection | None
    ) -> tuple[Lane, list[Turn[SavedMessage]], int]:
        lanes = {lane.id: lane for lane in self.lanes(conversation_id)}
        if lane_id not in lanes:
            raise LaneSpecError(f"lane {lane_id} is not a lane of conversation {conversation_id}")
        messages = self._messages(conversation_id)
        turns = walk(messages, {**(selection or {}), **picking(messages, user_message_id)})
        for index, turn in enumerate(turns):
            if turn.user.id == user_message_id:
                return lanes[lane_id], turns, index
        raise LaneSpecError(f"message {user_message_id} is not a user message of conversation {conversation_id}")

    def reply_source(self, message_id: int) -> tuple[SavedMessage, Lane, list[HistoryTurn]]:
        """A saved reply, its lane, and the history that lane had seen when it wrote it.

        Raises:
            LaneSpecError: the message is not a saved reply.
        """
        return self._source(message_id, None)

    def _source(self, message_id: int, selection: Selection | None) -> tuple[SavedMessage, Lane, list[HistoryTurn]]:
        """A saved reply, its lane, and the history that lane had seen when it wrote it."""
        with Session(self.engine) as session:
            row = session.get(Message, message_id)
        if row is None or row.role != "model" or row.lane_id is None or row.parent_id is None:
            raise LaneSpecError(f"message {message_id} is not a saved reply")
        source = SavedMessage.from_row(row)
        lane, turns, index = self._locate(row.conversation_id, row.parent_id, row.lane_id, selection)
        history = [*history_for_lane(turns[:index], lane.id), HistoryTurn(role="user", text=turns[index].user.content)]
        return source, lane, history


def _title_from(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= 60 else line[:57] + "…"
