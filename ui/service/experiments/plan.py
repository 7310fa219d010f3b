"""Checking a suite against the models and masks that exist, and laying a run out as cells (lane x prompt),
each a saved conversation with one lane and the prompt's user message, before any sample is drawn."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import Engine
from sqlmodel import Session

from personas.catalog import load_mask
from personas.mask import Mask
from personas.scorer_kinds import METRIC_KINDS
from personas.suites import Suite
from simulator.registry import Registry
from simulator.values import SamplingSettings
from storage import experiments as store
from storage import repo
from ui.service.conversations.lanes import LaneSpec, parse_lane_spec
from ui.service.errors import ServiceError
from ui.service.experiments.posteriors import posterior_scorers, scorer_masks
from ui.service.experiments.scorers import likelihood_scorers, sampled_scorers


@dataclass(frozen=True)
class CheckedLane:
    """A suite lane resolved: its spec, model kind, mask (the suite's own or the library's) and model sha256."""

    spec: str
    lane: LaneSpec
    kind: str
    mask: Mask | None
    sha256: str | None


def sampling(suite: Suite) -> SamplingSettings:
    """The suite's settings as a lane's (seed None: each sample gets its own)."""
    return SamplingSettings(**suite.settings.model_dump())


def seed_of(suite: Suite, sample_index: int) -> int:
    """Sample i of every cell is drawn with seed `suite.seed + i`, so cells compare on the same seeds."""
    return suite.seed + sample_index


def samples_per_cell(suite: Suite) -> int:
    """How many replies each cell draws: none when every scorer reads the document rather than a reply."""
    return suite.samples if sampled_scorers(suite) else 0


def check_lanes(suite: Suite, registry: Registry, masks_dir: Path | None) -> list[CheckedLane]:
    """Every lane of `suite` resolved, before anything is saved or started.

    Raises:
        ModelUnavailable: a lane names a model that does not exist.
        MaskError: a lane names a mask that is neither the suite's nor in the library.
        ServiceError: a next_token/choice scorer on a chat lane (chat models give no token probabilities), or a
            mask_posterior scorer whose model is not a base model.
    """
    check_posterior_scorers(suite, registry, masks_dir)
    own = {mask.name: mask for mask in suite.masks}
    checked = []
    for spec in suite.lanes:
        lane = parse_lane_spec(spec, sampling(suite))
        entry = registry.resolve(lane.model)
        mask = None if lane.mask is None else own.get(lane.mask) or load_mask(lane.mask, masks_dir)
        if entry.kind == "chat" and likelihood_scorers(suite):
            names = ", ".join(s.name for s in likelihood_scorers(suite))
            raise ServiceError(
                f"lane {spec!r} is a chat model: it gives no token probabilities for the next_token/choice"
                f" scorer(s) {names}; use base-model lanes, or move those scorers to another suite"
            )
        sha256 = registry.model_sha256(entry) if entry.path is not None else None
        checked.append(CheckedLane(spec, lane, entry.kind, mask, sha256))
    return checked


def check_posterior_scorers(suite: Suite, registry: Registry, masks_dir: Path | None) -> None:
    """Every mask_posterior scorer's masks exist, and its model (if it names one) is a base model."""
    for scorer in posterior_scorers(suite):
        scorer_masks(suite, scorer, masks_dir)
        if scorer.model is not None and registry.resolve(scorer.model).kind != "simulator":
            raise ServiceError(
                f"scorer {scorer.name!r}: {scorer.model} is a chat model; who is speaking? needs a base model's"
                " probabilities"
            )


def create_cells(engine: Engine, run_id: int, suite: Suite, lanes: list[CheckedLane]) -> None:
    """One conversation per cell, titled after the suite, with the cell's lane and the prompt's user message
    (earlier turns of a multi-turn prompt reach the model as the history, and are in each reply's prompt)."""
    position = 0
    with Session(engine) as session:
        for checked in lanes:
            for index, prompt in enumerate(suite.prompts):
                title = f"{suite.name} · run {run_id} · {checked.spec} · prompt {index + 1}"
                conversation = repo.create_conversation(session=session, title=title)
                assert conversation.id is not None
                repo.add_lane(
                    session=session,
                    conversation_id=conversation.id,
                    position=0,
                    label=checked.lane.display_label,
                    kind=checked.kind,  # type: ignore[arg-type]
                    model=checked.lane.model,
                    mask_name=checked.lane.mask,
                    mask_snapshot=checked.mask.model_dump(mode="json", exclude={"card_image"})
                    if checked.mask
                    else None,
                    system_prompt=None,
                    settings=checked.lane.settings,
                )
                repo.add_user_message(
                    session=session, conversation_id=conversation.id, parent_id=None, content=prompt.last
                )
                store.add_cell(
                    session=session,
                    run_id=run_id,
                    position=position,
                    lane=checked.spec,
                    prompt_index=index,
                    conversation_id=conversation.id,
                )
                position += 1


def wants_mask_effect(suite: Suite) -> bool:
    """Whether replies need their second reading after the raw document (a decode or a request per sample)."""
    return any(s.kind == "mask_effect" for s in suite.scorers)


def wants_metrics(suite: Suite) -> bool:
    """Whether replies need the fidelity metrics (extra scoring passes): only for the scorers that read them."""
    return any(s.kind in METRIC_KINDS for s in suite.scorers)
