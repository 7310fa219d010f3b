"""A run's cells: each cell's likelihoods (next_token/choice, one forward pass per continuation, once per cell)
and the samples it still lacks, drawn through the same turn runner as Compare, so each is saved as it streams and
linked to the run only once it is finished and scored. The samples of all the cells given are cut into units and
drawn at once (ui.service.experiments.scheduler): one at a time per slot of a server, in batched groups on the
local worker."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session

from personas.mask import Mask
from personas.suites import Prompt, Suite
from simulator.batch import FAST_ROWS
from simulator.registry import IN_PROCESS, Registry
from simulator.retries import RetryPolicy
from simulator.scoring import Likelihoods, likelihoods
from simulator.slots import ServerSlots
from simulator.values import EXACT_ROWS
from storage import experiments as store
from storage import repo
from storage.tables import Lane
from ui.service.conversations.lanes import lane_config
from ui.service.conversations.turns import Job, run_jobs
from ui.service.experiments.judges import JUDGES_KEY, judge_reply, judge_scorers
from ui.service.experiments.plan import samples_per_cell, seed_of, wants_mask_effect, wants_metrics
from ui.service.experiments.posteriors import score_posteriors
from ui.service.experiments.report_models import Continuation, Likelihood
from ui.service.experiments.scheduler import CellFinished, Outcome, Unit, draw_units
from ui.service.experiments.scorers import likelihood_scorers, score_reply
from ui.service.vectors.service import Vectors

CHAT_GROUP = 4  # a local chat lane's samples drawn at once (each streams on a model copy of its own)
# A sample's chat lane retries a server's 429 or 5xx (a run of a thousand samples should not lose one to a rate
# limit); a turn in Compare or `simulacra ask` never does, it shows the refusal at once.
SAMPLE_RETRIES = RetryPolicy()


def server_threads(slots: int) -> int:
    """Threads drawing a run's samples from a server with `slots`: more than its slots, so that while the slots
    stream, other samples are saved, scored and linked, and the next requests are ready to go out (each sample
    holds a slot only while it streams and is measured: simulator.slots)."""
    return slots + max(2, slots // 2)


@dataclass(frozen=True)
class Groups:
    """How a run decodes an in-process base lane's samples of one cell together: in fixed groups of `size`
    (samples 0-7, 8-15, ...), at most `rows` of them in one decode (simulator.batch). Stored with the run, so that
    resume and replay draw the very same groups: a group with any sample missing is drawn whole again, and only
    its missing samples are kept. Runs from before groups were stored drew 4 at a time, each its seed's lone
    reply (BEFORE_GROUPS)."""

    size: int = FAST_ROWS
    rows: int = FAST_ROWS

    def record(self) -> dict[str, int]:
        return {"size": self.size, "rows": self.rows}

    @classmethod
    def of(cls, settings: Mapping[str, Any]) -> Groups:
        stored = settings.get("groups")
        return cls(**stored) if isinstance(stored, dict) else BEFORE_GROUPS

    def units(self, cell_id: int, queue: str, total: int, missing: frozenset[int]) -> list[Unit]:
        starts = range(0, total, self.size)
        groups = [tuple(range(start, min(start + self.size, total))) for start in starts]
        return [Unit(cell_id, queue, group) for group in groups if missing.intersection(group)]


BEFORE_GROUPS = Groups(size=4, rows=EXACT_ROWS)


@dataclass(frozen=True)
class CellWork:
    """What a cell needs to draw its missing samples."""

    cell: store.RunCell
    lane: Lane
    user_id: int
    prompt: Prompt
    missing: frozenset[int]  # the samples it lacks; a unit's others are drawn only to keep their group whole


class CellRunner:
    def __init__(
        self,
        engine: Engine,
        registry: Registry,
        suite: Suite,
        cancel: threading.Event | None,
        *,
        judges: bool = False,
        masks_dir: Path | None = None,
        groups: Groups = BEFORE_GROUPS,
        worker: str | None = None,
    ) -> None:
        self.engine = engine
        self.worker = worker  # recorded with each sample it links (ui.service.experiments.worker)
        self.registry = registry
        self.suite = suite
        self.cancel = cancel or threading.Event()
        self.judges = judge_scorers(suite) if judges else []
        self.masks_dir = masks_dir
        self.groups = groups

    @property
    def cancelled(self) -> bool:
        return self.cancel.is_set()

    def run_cells(self, cells: list[store.RunCell], have: set[tuple[int, int]]) -> Iterator[Outcome | CellFinished]:
        """Fill in what the cells lack: each one's likelihoods, then their missing samples, all cells at once
        (replies a killed run left unlinked are deleted first, so no sample is ever there twice). Yields each
        sample's outcome as it ends, and each cell once it has ended.

        Raises:
            ModelUnavailable: a lane's server cannot be probed for its concurrency.
        """
        works: dict[int, CellWork] = {}
        units: list[Unit] = []
        threads: dict[str, int] = {}
        servers: dict[str, ServerSlots] = {}
        for cell in cells:
            assert cell.id is not None
            work = self._prepare(cell, have)
            if not work.missing:
                yield CellFinished(cell.id)
                continue
            works[cell.id] = work
            queue, slots = self.registry.concurrency(self.registry.resolve(work.lane.model))
            if queue == IN_PROCESS:
                threads[queue] = slots
            elif queue not in servers:
                servers[queue] = ServerSlots(slots)
                threads[queue] = server_threads(slots)
            units += self._units(work, queue)

        def draw(unit: Unit, halt: threading.Event) -> Iterator[Outcome]:
            return self._draw(works[unit.cell_id], unit, halt, servers.get(unit.queue))

        yield from draw_units(units, threads, draw, self.cancel)

    def _units(self, work: CellWork, queue: str) -> list[Unit]:
        """In-process base lanes in the run's groups; a server's slot takes one sample at a time."""
        assert work.cell.id is not None
        if queue == IN_PROCESS and work.lane.kind == "simulator":
            return self.groups.units(work.cell.id, queue, samples_per_cell(self.suite), work.missing)
        missing = sorted(work.missing)
        size = CHAT_GROUP if queue == IN_PROCESS else 1
        return [Unit(work.cell.id, queue, tuple(missing[i : i + size])) for i in range(0, len(missing), size)]

    def _prepare(self, cell: store.RunCell, have: set[tuple[int, int]]) -> CellWork:
        """The cell's lane, user message and prompt, with its likelihoods computed if it lacks them; and the
        sample indices it lacks (its unlinked replies deleted)."""
        assert cell.id is not None and cell.conversation_id is not None
        prompt = self.suite.prompts[cell.prompt_index]
        with Session(self.engine) as session:
            lane = repo.list_lanes(session=session, conversation_id=cell.conversation_id)[0]
            user = next(
                m for m in repo.list_messages(session=session, conversation_id=cell.conversation_id) if m.role == "user"
            )
        assert user.id is not None
        if likelihood_scorers(self.suite) and cell.likelihoods is None and not self.cancelled:
            self._likelihoods(cell, lane, prompt)
        missing = [i for i in range(samples_per_cell(self.suite)) if (cell.id, i) not in have]
        if missing:
            with Session(self.engine) as session:
                store.delete_unlinked_replies(session=session, cell=cell)
        return CellWork(cell, lane, user.id, prompt, frozenset(missing))

    def _jobs(self, work: CellWork, unit: Unit, halt: threading.Event, slots: ServerSlots | None) -> list[Job]:
        """The unit's samples as turn jobs: each its seed's, with the run's layout, retries and server slots."""
        lane, prompt = work.lane, work.prompt
        base = lane_config(lane, Vectors(self.engine, self.registry))  # a steered lane's control vector
        document = prompt.document if lane.kind == "simulator" else None
        return [
            Job(
                lane,
                replace(
                    base,
                    key=f"experiment-{slot}",
                    settings=base.settings.model_copy(update={"seed": seed_of(self.suite, index)}),
                    document=document,
                    metrics=wants_metrics(self.suite),
                    mask_effect=wants_mask_effect(self.suite),
                    batch_rows=self.groups.rows,
                    retry=replace(SAMPLE_RETRIES, also_stop=(self.cancel, halt)),
                    slots=slots,
                ),
                prompt.history,
                work.user_id,
            )
            for slot, index in enumerate(unit.indices)
        ]

    def _draw(self, work: CellWork, unit: Unit, halt: threading.Event, slots: ServerSlots | None) -> Iterator[Outcome]:
        cell, lane, prompt, indices = work.cell, work.lane, work.prompt, unit.indices
        jobs = self._jobs(work, unit, halt, slots)
        assert cell.conversation_id is not None and cell.id is not None
        # A turn sets its own switch when it ends (to stop what is left), so each unit gets a switch of its
        # own, thrown when the run's is or the unit is halted.
        unit_cancel, duplicates = threading.Event(), []
        for update in run_jobs(self.engine, self.registry, cell.conversation_id, jobs, unit_cancel):
            if self.cancel.is_set() or halt.is_set():
                unit_cancel.set()
            if update.event.kind not in ("done", "error"):
                continue
            index, reply = indices[update.position], update.reply
            if index not in work.missing:
                if update.message_id is not None:  # drawn again only so that its group is the same: it goes
                    duplicates.append(update.message_id)
                continue
            if reply.status != "complete":
                if reply.finish_reason != "cancelled":
                    yield Outcome(cell.id, index, reply.error or f"reply {update.message_id} ended {reply.status}")
                continue
            metrics = None if reply.metrics is None else reply.metrics.model_dump(mode="json")
            scores = score_reply(self.suite, reply.text, metrics, reply.finish_reason)
            scores.update(self._judged(prompt.last, reply.text, seed_of(self.suite, index)))
            scores.update(score_posteriors(self.registry, self.suite, self.masks_dir, lane, prompt.history, reply.text))
            with Session(self.engine) as session:
                store.add_sample(
                    session=session,
                    cell_id=cell.id,
                    sample_index=index,
                    seed=seed_of(self.suite, index),
                    message_id=update.message_id,
                    scores=scores,
                    retries=reply.retries,
                    batch=None if reply.group is None else {"samples": list(indices), **reply.group.model_dump()},
                    worker=self.worker,
                )
            yield Outcome(cell.id, index)
        if duplicates:
            with Session(self.engine) as session:
                store.delete_replies(session=session, message_ids=duplicates)

    def _judged(self, prompt: str, reply: str, seed: int) -> dict[str, Any]:
        """The judge scorers' answers, and under JUDGES_KEY what each judge said (nothing when judges are off)."""
        if not self.judges:
            return {}
        judged = {s.name: judge_reply(self.registry, s, prompt, reply, seed) for s in self.judges}
        return {
            **{name: j.answer for name, j in judged.items()},
            JUDGES_KEY: {n: j.record() for n, j in judged.items()},
        }

    def _likelihoods(self, cell: store.RunCell, lane: Lane, prompt: Prompt) -> None:
        mask = Mask.model_validate(lane.mask_snapshot) if lane.mask_snapshot else None
        results: dict[str, Any] = {}
        for scorer in likelihood_scorers(self.suite):
            scored = likelihoods(self.registry, lane.model, mask, prompt.history, scorer.continuations, prompt.document)
            results[scorer.name] = likelihood_json(scorer.kind, scored)
        assert cell.id is not None
        with Session(self.engine) as session:
            store.set_cell_likelihoods(session=session, cell_id=cell.id, likelihoods=results)


def likelihood_json(kind: str, scored: Likelihoods) -> dict[str, Any]:
    """What a cell stores (and `--json` shows) of a next_token/choice result: the exact document, each continuation
    and its p (the product of its tokens' probabilities), so anyone can recompute it; for `choice`, the most likely
    one. The report reads it back as a `Likelihood`."""
    continuations = [
        Continuation(continuation=s.continuation, p=s.p, logprob=s.logprob, token_ps=list(s.token_ps))
        for s in scored.scores
    ]
    return Likelihood(
        kind=kind, document=scored.document, continuations=continuations, choice=scored.best.continuation
    ).model_dump()
