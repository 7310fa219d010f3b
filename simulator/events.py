"""Our own typed events: llama.cpp dicts and litellm chunks become these at the edge of simulator/. The values
they carry (Token, SamplingSettings, FidelityMetrics, ...) live in values.py, which storage may import."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from simulator.values import FidelityMetrics, FinishReason, GroupLayout, Status, Token

STOPPED = "stopped"  # a cancelled reply's error: the user stopped the turn
EventKind = Literal["start", "notice", "token", "done", "error"]


@dataclass
class Timings:
    ttft_ms: float | None = None
    total_ms: float | None = None
    tokens_per_s: float | None = None


@dataclass
class LaneEvent:
    """Something that happened in one lane during a turn.

    kind: `start` (prompt is the exact document or message list sent; a contrast lane's `contrast_prompt` is its
    mask B's document), `notice` (a message for the
    user, such as dropped turns), `token`, `done` (finish_reason set) or `error` (error set).
    """

    lane_index: int
    kind: EventKind
    token: Token | None = None
    prompt: str | list[dict[str, str]] | None = None
    contrast_prompt: str | None = None
    notice: str | None = None
    finish_reason: FinishReason | None = None
    error: str | None = None
    timings: Timings = field(default_factory=Timings)
    # Set on a `done` event: the seed actually used (base lanes) or the lane's fixed one (chat lanes), and
    # for base lanes the mask-fidelity metrics, the sha256 of the model file and the sample's group layout (None:
    # drawn alone), for replay.
    seed: int | None = None
    metrics: FidelityMetrics | None = None
    model_sha256: str | None = None
    retries: int = 0  # on a chat lane's `done`: the refusals (429, 5xx) retried before the server answered
    group: GroupLayout | None = None


@dataclass
class Reply:
    """Everything a lane produced in one turn, as shown and as saved."""

    text: str = ""
    tokens: list[Token] = field(default_factory=list)
    status: Status = "incomplete"
    finish_reason: FinishReason | None = None
    error: str | None = None
    notices: list[str] = field(default_factory=list)
    prompt: str | list[dict[str, str]] | None = None
    contrast_prompt: str | None = None  # a contrast lane's mask B's document
    timings: Timings = field(default_factory=Timings)
    seed: int | None = None
    metrics: FidelityMetrics | None = None
    model_sha256: str | None = None
    group: GroupLayout | None = None  # how it was batched with other samples (None: drawn alone)
    diverged_at: int | None = None  # a branch: the token index where it left the reply it branched from
    retries: int = 0  # requests a server refused (429, 5xx) and the lane asked again (experiment samples only)

    def apply(self, event: LaneEvent) -> None:
        """Fold one of the lane's events into the reply: the one place a stream becomes a reply."""
        if event.kind == "start":
            self.prompt = event.prompt
            self.contrast_prompt = event.contrast_prompt
            return
        if event.kind == "notice":
            if event.notice:
                self.notices.append(event.notice)
            return
        self.timings = event.timings
        if event.kind == "token":
            if event.token is not None:
                self.tokens.append(event.token)
                self.text += event.token.text
            return
        failed = event.kind == "error"
        self.status = "error" if failed else "complete"
        self.finish_reason = event.finish_reason or ("error" if failed else None)
        self.error = event.error
        if self.finish_reason == "cancelled":  # the user pressed Stop: kept, but not a finished reply
            self.status, self.error = "incomplete", STOPPED
        elif failed and self.tokens:  # the server died or stalled mid-reply: what it wrote is kept, unfinished
            self.status = "incomplete"
        self.seed = event.seed
        self.model_sha256 = event.model_sha256
        self.metrics = event.metrics
        self.retries = event.retries
        self.group = event.group
