"""Two masks contrasted, per step: a saved base-lane reply read after its own document (A) and after a second mask's
document for the same conversation (B), and at every token KL(A‖B) and the overlap of their top-k. In-process the
distributions are the whole vocabulary's; on a server they are the returned top-k only, and the result says so. A
contrast reply compares its own two documents (the lane's mask and the one it was contrasted with) by default.

(The contrast lane itself is a lane like the others: `simulator.contrast`, named `MODEL@A~B[:γ]`.)"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import BaseModel

from personas.catalog import load_mask
from simulator.base import Simulator
from simulator.compare import MAX_TOP_K, Step, approximate_steps, compare_on_worker
from simulator.remote import NoPromptProbabilities
from simulator.scoring import document_for
from ui.service.errors import ServiceError
from ui.service.read_models import SavedMessage

if TYPE_CHECKING:
    from ui.service.workspace import Workspace

FULL = "KL and overlap over the full next-token distributions (in-process)"
APPROXIMATE = "approximate: KL over the union of the top-k the server returned, each renormalised there"


class Candidate(BaseModel):
    text: str
    p: float


class StepView(BaseModel):
    """One token of the text: KL(A‖B) in nats at that step, the share of A's top-k also in B's, and both top-k."""

    index: int
    text: str
    kl: float
    overlap: float
    top_a: list[Candidate]
    top_b: list[Candidate]


class Comparison(BaseModel):
    """Mask A (the reply's) and mask B reading the same text, step by step; `basis` says what the figures are over."""

    model: str
    message_id: int
    mask_a: str
    mask_b: str
    document_a: str
    document_b: str
    text: str
    k: int
    approximate: bool
    basis: str
    steps: list[StepView]

    @property
    def mean_kl(self) -> float:
        return sum(s.kl for s in self.steps) / len(self.steps) if self.steps else 0.0

    @property
    def mean_overlap(self) -> float:
        return sum(s.overlap for s in self.steps) / len(self.steps) if self.steps else 1.0


def reply(workspace: Workspace, message_id: int, other: str | None = None, *, k: int = 5) -> Comparison:
    """A saved base-lane reply read after its own document and after mask `other`'s for the same history (by default,
    for a contrast reply, the document its second mask read).

    Raises:
        LaneSpecError: not a saved reply. MaskError: no mask `other`. ServiceError: k out of range, a chat model's
            reply, no mask to compare with, or a server that returns no probabilities.
    """
    if not 1 <= k <= MAX_TOP_K:
        raise ServiceError(f"top-k must be from 1 to {MAX_TOP_K}, not {k}")
    source, lane, history = workspace.conversations.reply_source(message_id)
    if lane.kind != "simulator" or not isinstance(source.prompt, str):
        raise ServiceError(f"message {message_id} is not a base-lane reply: only those have distributions to compare")
    if not source.content:
        raise ServiceError(f"message {message_id} has no text to compare")
    if other is not None:
        mask_b, document_b = other, document_for(load_mask(other, workspace.settings.resolved_masks_dir), history)
    elif source.contrast is not None and source.contrast.document is not None:
        mask_b, document_b = source.contrast.mask, source.contrast.document
    else:
        raise ServiceError("name a mask to compare this reply's mask with (e.g. raw)")
    steps, approximate = _steps(workspace, lane.model, source.prompt, document_b, source, k)
    return Comparison(
        model=lane.model,
        message_id=message_id,
        mask_a=lane.mask_name or "raw",
        mask_b=mask_b,
        document_a=source.prompt,
        document_b=document_b,
        text=source.content,
        k=k,
        approximate=approximate,
        basis=APPROXIMATE if approximate else FULL,
        steps=[_view(i, step) for i, step in enumerate(steps)],
    )


def _steps(
    workspace: Workspace, model: str, document_a: str, document_b: str, source: SavedMessage, k: int
) -> tuple[list[Step], bool]:
    """The steps, and whether they are approximate (a server's top-k only)."""
    registry = workspace.registry
    simulator = registry.simulator(registry.resolve(model))
    if isinstance(simulator, Simulator):
        return compare_on_worker(simulator, registry.worker, document_a, document_b, source.content, k), False
    pieces = [t.text for t in source.tokens] or [source.content]
    try:
        return approximate_steps(simulator, document_a, document_b, pieces, k), True
    except NoPromptProbabilities as e:
        raise ServiceError(f"{model}'s server returns no token probabilities to compare: {e}") from e


def _view(index: int, step: Step) -> StepView:
    return StepView(
        index=index,
        text=step.text,
        kl=step.kl,
        overlap=step.overlap,
        top_a=[Candidate(text=a.text, p=a.p) for a in step.top_a],
        top_b=[Candidate(text=b.text, p=b.p) for b in step.top_b],
    )
