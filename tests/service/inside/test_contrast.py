# Two masks compared per step on a saved reply, through the service the page calls, on the bundled base model
# in-process (full distributions) and behind a real llama.cpp server (approximate, and labelled so): a mask read
# against itself never parts (KL 0, full overlap); a contrast reply is compared with its own second mask's document.

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from personas.mask import MaskError
from simulator.registry import ModelEntry, Registry
from simulator.values import SamplingSettings
from ui.service.conversations.service import parse_lane_spec
from ui.service.errors import ServiceError
from ui.service.inside import contrast
from ui.service.settings import Settings
from ui.service.workspace import Workspace

pytestmark = pytest.mark.model

GREEDY = SamplingSettings(temperature=0.0, max_tokens=8, seed=1)
QUESTION = "What is the capital of France?"


def workspace_with(tmp_path: Path, registry: Registry) -> Iterator[Workspace]:
    workspace = Workspace.open(Settings(data_dir=tmp_path), registry)
    yield workspace
    workspace.engine.dispose()


@pytest.fixture
def workspace(tmp_path: Path, registry: Registry) -> Iterator[Workspace]:
    yield from workspace_with(tmp_path, registry)


def ask(workspace: Workspace, *lanes: str) -> list[int]:
    service = workspace.conversations
    cid = service.create([parse_lane_spec(lane, GREEDY) for lane in lanes])
    done = [u for u in service.send(cid, QUESTION) if u.event.kind == "done"]
    assert len(done) == len(lanes)
    return [u.message_id or 0 for u in sorted(done, key=lambda u: u.position)]


def test_a_contrast_reply_is_compared_with_its_own_second_mask_and_a_mask_with_itself(workspace: Workspace) -> None:
    [plain, contrasted] = ask(workspace, "base@assistant", "base@assistant~quiz:2")

    own = contrast.reply(workspace, contrasted, k=5)
    itself = contrast.reply(workspace, plain, "assistant", k=5)

    assert (own.mask_a, own.mask_b, own.approximate, own.basis) == ("assistant", "quiz", False, contrast.FULL)
    assert QUESTION in own.document_b and own.document_b != own.document_a
    assert "".join(step.text for step in own.steps) == own.text and len(own.steps) >= 2
    assert own.mean_kl > 0.05 and all(step.kl >= 0 for step in own.steps)
    assert all(step.kl == pytest.approx(0, abs=1e-9) and step.overlap == 1 for step in itself.steps)
    assert len(itself.steps[0].top_a) == 5


def test_bad_requests_are_one_clear_error(workspace: Workspace) -> None:
    [plain] = ask(workspace, "base@assistant")

    with pytest.raises(ServiceError, match="top-k must be from 1 to 20, not 0"):
        contrast.reply(workspace, plain, "raw", k=0)
    with pytest.raises(ServiceError, match="name a mask to compare"):
        contrast.reply(workspace, plain)
    with pytest.raises(MaskError, match="unknown mask 'nosuch'"):
        contrast.reply(workspace, plain, "nosuch")


@pytest.mark.slow
def test_a_remote_lane_is_compared_approximately_and_says_so(tmp_path: Path, gemma_server: str) -> None:
    entry = ModelEntry(name="remote-gemma", kind="simulator", api="openai-completions", api_base=gemma_server)
    registry = Registry(n_ctx=1024, n_threads=1, extra=[entry])
    try:
        for workspace in workspace_with(tmp_path, registry):
            [reply] = ask(workspace, "remote-gemma@assistant")
            apart = contrast.reply(workspace, reply, "quiz", k=5)
            itself = contrast.reply(workspace, reply, "assistant", k=5)
    finally:
        registry.close()

    assert apart.approximate and apart.basis == contrast.APPROXIMATE
    assert "".join(step.text for step in apart.steps) == apart.text
    assert apart.mean_kl > 0 and all(step.kl >= 0 for step in apart.steps)
    assert all(step.kl == pytest.approx(0, abs=1e-9) and step.overlap == 1 for step in itself.steps)
