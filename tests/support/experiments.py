"""Stored experiment runs without drawing a sample: the cells laid out by the runner's own create_cells, each reply
saved as a finished turn saves one and scored by the real scorers, in a real database. For tests of what a report,
the Experiments page or the CLI shows about a run, where drawing from a model would only cost time."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session

from personas.suites import Suite, load_suite
from storage import experiments as store
from storage import repo
from tests.support.factories import id_of
from ui.service.conversations.lanes import parse_lane_spec
from ui.service.experiments.plan import CheckedLane, create_cells, sampling, seed_of
from ui.service.experiments.scorers import score_reply

Reply = str | tuple[str, Mapping[str, Any]]  # the text, or the text and its stored fidelity metrics

# capital-quiz, 4 samples a lane, replies of the kinds the bundled models write. base@raw: three of four go on
# with the quiz (two as a multiple-choice question, as gemma-3-270m does); the assistant mask names Paris every
# time, with one in-character probability (one document for every seed); the chat model never does.
CAPITAL_QUIZ: dict[str, list[Reply]] = {
    "base@raw": [
        "\nA. Paris\nB. Bordeaux\nC. Monaco\nD. Versailles\nAnswer:",
        "\nWhat is the capital of Germany?",
        "\nParis",
        "\n(a) Paris\n(b) Lyon\n",
    ],
    "base@assistant": [(" Paris.", {"in_character_p": 0.896748, "ended_by": "natural"})] * 4,
    "chat": ["I think it is Lyon."] * 4,
}


def store_run(
    engine: Engine,
    suite: Suite,
    replies: Mapping[str, Sequence[Reply]],
    *,
    likelihoods: Mapping[str, Mapping[str, Any]] | None = None,
    replay_of: int | None = None,
    status: str = "complete",
) -> int:
    """A finished run of `suite`: in every cell of lane L (one per prompt), the replies `replies[L]` as its
    samples 0, 1, ...; `likelihoods[L]` as each of L's cells' next_token/choice results. Returns the run id."""
    lanes = [CheckedLane(spec, parse_lane_spec(spec, sampling(suite)), _kind(spec), None, None) for spec in suite.lanes]
    per_cell = max((len(r) for r in replies.values()), default=0)
    with Session(engine) as session:
        experiment = store.experiment_for(session=session, suite=suite.model_dump(mode="json", exclude_none=True))
        run = store.create_run(
            session=session,
            experiment_id=id_of(experiment.id),
            settings={"samples": suite.samples, "lanes": suite.lanes, "seed": suite.seed, "judges": False},
            model_sha256={},
            cells_total=len(lanes) * len(suite.prompts),
            samples_total=len(lanes) * len(suite.prompts) * per_cell,
            replay_of=replay_of,
        )
    run_id = id_of(run.id)
    create_cells(engine, run_id, suite, lanes)
    with Session(engine) as session:
        for cell in store.list_cells(session=session, run_id=run_id):
            if likelihoods and cell.lane in likelihoods:
                store.set_cell_likelihoods(session=session, cell_id=id_of(cell.id), likelihoods=likelihoods[cell.lane])
            for index, reply in enumerate(replies.get(cell.lane, [])):
                _sample(session, suite, cell, index, reply)
        store.set_run_status(session=session, run_id=run_id, status=status)
    return run_id


def _kind(spec: str) -> str:
    return "chat" if spec.split("@")[0] == "chat" else "simulator"


def _sample(session: Session, suite: Suite, cell: store.RunCell, index: int, reply: Reply) -> None:
    text, metrics = (reply, None) if isinstance(reply, str) else reply
    conversation_id = id_of(cell.conversation_id)
    lane = repo.list_lanes(session=session, conversation_id=conversation_id)[0]
    user = next(m for m in repo.list_messages(session=session, conversation_id=conversation_id) if m.role == "user")
    message = repo.start_reply(
        session=session,
        conversation_id=conversation_id,
        lane_id=id_of(lane.id),
        parent_id=user.id,
        prompt=user.content,
    )
    repo.finish_reply(
        session=session,
        message_id=id_of(message.id),
        content=text,
        tokens=None,
        status="complete",
        finish_reason="stop",
        error=None,
        ttft_ms=10.0,
        total_ms=50.0,
        tokens_per_s=40.0,
        seed=seed_of(suite, index),
        metrics=metrics,
    )
    store.add_sample(
        session=session,
        cell_id=id_of(cell.id),
        sample_index=index,
        seed=seed_of(suite, index),
        message_id=message.id,
        scores=score_reply(suite, text, metrics, "stop"),
    )


def capital_quiz_run(engine: Engine) -> int:
    """The built-in capital-quiz suite run with 4 samples a lane: CAPITAL_QUIZ's replies."""
    return store_run(engine, load_suite("capital-quiz").with_run_options(samples=4), CAPITAL_QUIZ)
