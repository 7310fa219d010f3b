# The drift meter through the service the page calls, on the bundled base model in-process: a direction fitted
# as mean(assistant reply) − mean(rogue-ai reply) puts the assistant reply exactly its length above the rogue-ai
# one at every layer (the meter re-reads the exact recorded documents), one point per token; a chat reply, a server
# lane, a layer the model lacks, an unknown direction and another model's direction are each one clear line.

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Literal

import numpy as np
import pytest
from sqlmodel import Session

from simulator.activations import LayerOutOfRange
from simulator.base import Simulator, drain
from simulator.registry import ModelEntry, Registry
from simulator.values import SamplingSettings
from storage import repo
from tests.support.directions import save_fitted_direction
from tests.support.factories import id_of
from ui.service.conversations.service import parse_lane_spec
from ui.service.errors import ServiceError
from ui.service.inside import drift
from ui.service.settings import Settings
from ui.service.vectors.service import Vectors
from ui.service.workspace import Workspace

pytestmark = pytest.mark.model

GREEDY = SamplingSettings(temperature=0.0, max_tokens=8, seed=1)
QUESTION = "Tell me about yourself."


@pytest.fixture
def workspace(tmp_path: Path, registry: Registry) -> Iterator[Workspace]:
    workspace = Workspace.open(Settings(data_dir=tmp_path), registry)
    yield workspace
    workspace.engine.dispose()


def ask(workspace: Workspace, *lanes: str) -> list[int]:
    service = workspace.conversations
    cid = service.create([parse_lane_spec(lane, GREEDY) for lane in lanes])
    done = [u for u in service.send(cid, QUESTION) if u.event.kind == "done"]
    assert len(done) == len(lanes)
    return [u.message_id or 0 for u in sorted(done, key=lambda u: u.position)]


@pytest.mark.slow
def test_two_masks_replies_sit_the_directions_length_apart_and_bad_requests_are_one_line(workspace: Workspace) -> None:
    [helper, rogue] = ask(workspace, "base@assistant", "base@rogue-ai")
    chat = saved_reply(workspace, "chat", kind="chat")
    view = save_fitted_direction(workspace, "test-axis", ("assistant", [helper]), ("rogue-ai", [rogue]))
    vectors = Vectors.of(workspace).array("test-axis")

    for layer in (None, 12):
        toward = drift.meter(workspace, helper, "test-axis", layer)
        away = drift.meter(workspace, rogue, "test-axis", layer)
        chosen = view.best_layer if layer is None else layer
        assert (toward.layer, toward.best_layer, toward.toward, toward.away) == (chosen, 6, "assistant", "rogue-ai")
        # (mean_a − mean_r) · d/|d| = |d|: both replies read again exactly as they were written.
        length = float(np.linalg.norm(vectors[chosen].astype(np.float64)))
        assert toward.mean - away.mean == pytest.approx(length, rel=1e-3)
        assert toward.mean == pytest.approx(np.mean([t.projection for t in toward.tokens]))

    reply, _, _ = workspace.conversations.reply_source(helper)
    assert "".join(t.text for t in toward.tokens) == "".join(t.text for t in reply.tokens)
    assert [t.index for t in toward.tokens] == list(range(len(toward.tokens))) and len(toward.tokens) >= 3
    assert toward.references == []  # this direction's provenance kept no per-mask means

    with pytest.raises(ServiceError, match=f"message {chat} is a chat model's reply"):
        drift.meter(workspace, chat, "test-axis")
    with pytest.raises(LayerOutOfRange, match="layer 18 is out of range: base has layers 0 to 17"):
        drift.meter(workspace, helper, "test-axis", 18)
    with pytest.raises(ServiceError, match="there is no direction named 'nosuch': the directions are test-axis"):
        drift.meter(workspace, helper, "nosuch")
    other = "ab" * 32
    save_fitted_direction(workspace, "elsewhere", ("assistant", [helper]), ("rogue-ai", [rogue]), model_sha256=other)
    with pytest.raises(
        ServiceError, match=r"direction elsewhere was computed on another model \(sha256 abababababab…\)"
    ):
        drift.meter(workspace, helper, "elsewhere")


def test_a_steered_reply_is_read_under_the_vector_it_was_written_with(workspace: Workspace) -> None:
    [helper, rogue] = ask(workspace, "base@assistant", "base@rogue-ai")
    save_fitted_direction(workspace, "test-axis", ("assistant", [helper]), ("rogue-ai", [rogue]))
    [steered] = ask(workspace, "base@assistant^test-axis:-2")  # layer 6, the direction's best
    row = Vectors.of(workspace).array("test-axis")[6].astype(np.float64)

    reading = drift.meter(workspace, steered, "test-axis")
    reply, _, _ = workspace.conversations.reply_source(steered)
    assert isinstance(reply.prompt, str)
    simulator = workspace.registry.simulator(workspace.registry.resolve("base"))
    assert isinstance(simulator, Simulator)
    unsteered = drain(simulator.capture(reply.prompt, reading_text(reading), [6])).layer(6) @ (
        row / np.linalg.norm(row)
    )
    # Layer 6's output carries the lane's push, −2 times the direction: −2 |d| along it, at every token.
    assert [t.projection for t in reading.tokens] == pytest.approx(list(unsteered - 2 * np.linalg.norm(row)), rel=1e-3)


def reading_text(reading: drift.Drift) -> str:
    return "".join(t.text for t in reading.tokens)


def test_mask_means_kept_in_a_directions_provenance_are_given_for_scale() -> None:
    provenance = {"layers": [{"layer": 5, "auc": 0.9}, {"layer": 6, "means": {"assistant": 2.5, "rogue-ai": -1.0}}]}

    assert drift.references(provenance, 6) == [
        drift.MaskMean(mask="assistant", mean=2.5),
        drift.MaskMean(mask="rogue-ai", mean=-1.0),
    ]
    assert drift.references(provenance, 5) == [] and drift.references({}, 6) == []


def saved_reply(workspace: Workspace, model: str, *, kind: Literal["simulator", "chat"] = "simulator") -> int:
    """A finished reply of a lane on `model`, saved as a turn saves one: the meter refuses these before any model
    would be asked anything, so none needs to run."""
    with Session(workspace.engine) as session:
        cid = id_of(repo.create_conversation(session=session, title="on a server").id)
        lane = repo.add_lane(
            session=session,
            conversation_id=cid,
            position=0,
            label=model,
            kind=kind,
            model=model,
            mask_name=None,
            mask_snapshot=None,
            system_prompt=None,
            settings=GREEDY,
        )
        prompt: str | list[dict[str, str]] = (
            "User: hi\nAI:" if kind == "simulator" else [{"role": "user", "content": "hi"}]
        )
        user = repo.add_user_message(session=session, conversation_id=cid, parent_id=None, content=QUESTION)
        reply = id_of(
            repo.start_reply(
                session=session, conversation_id=cid, lane_id=id_of(lane.id), parent_id=user.id, prompt=prompt
            ).id
        )
        tokens = [[" Hello", 0.5, []], [".", 0.9, []]]
        repo.finish_reply(
            session=session,
            message_id=reply,
            content=" Hello.",
            tokens=tokens,
            status="complete",
            finish_reason="stop",
            error=None,
            ttft_ms=None,
            total_ms=None,
            tokens_per_s=None,
        )
    return reply


def test_a_server_lane_is_refused_in_one_line(tmp_path: Path, closed_port: int) -> None:
    api_base = f"http://127.0.0.1:{closed_port}/v1"
    entry = ModelEntry(name="remote-gemma", kind="simulator", api="openai-completions", api_base=api_base)
    workspace = Workspace.open(Settings(data_dir=tmp_path), Registry(n_ctx=1024, n_threads=1, extra=[entry]))
    try:
        reply = saved_reply(workspace, "remote-gemma")
        with pytest.raises(ServiceError, match="remote-gemma runs on a server, which sends no activations back"):
            drift.meter(workspace, reply, "assistant-axis")
    finally:
        workspace.engine.dispose()
