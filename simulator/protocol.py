"""What a base lane asks of a simulator, in-process (`simulator.base`) or on a server (`simulator.remote`).

`turn`, `metrics` and `scoring` hold a `SimulatorProtocol` and never ask which kind it is: where the work runs
(the local worker, or the caller's thread waiting on the network) and what a server cannot do are the
simulator's own to decide.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, TypeVar

from personas.mask import HistoryTurn, Mask
from simulator.values import FinishReason, GroupLayout, SamplingSettings, Token

if TYPE_CHECKING:
    from simulator.steering import ControlVector
    from simulator.tree import TokenTree, TreeNode
    from simulator.worker import LocalWorker

T = TypeVar("T")
Scored = tuple[bytes, float]  # a token's bytes and its log-probability given everything before it


@dataclass(frozen=True)
class Finished:
    """The last item a continuation yields: why it ended, and the seed it actually used.

    `stop` is the stop sequence that ended it (None for the model's own end of text, the length limit or a
    cancel); `cue_p` is the probability of the `cue` the continuation was asked to measure, if it was;
    `retries` counts the requests a server refused before it answered (a chat lane under a retry policy); `group`
    is how it was batched with other samples (None: drawn alone).
    """

    reason: FinishReason
    seed: int
    stop: str | None = None
    cue_p: float | None = None
    retries: int = 0
    group: GroupLayout | None = None


@dataclass(frozen=True)
class FittedDocument:
    document: str
    n_tokens: int
    dropped_turns: int


class LaneSeat(Protocol):
    """The lane a continuation streams for: its cancel switch, its sample group and its notices."""

    cancel: threading.Event

    def decode(self, continuation: Continuation) -> Iterator[Token | Finished]:
        """Run a local continuation on the local worker, batched with the lane's other samples if it has any."""
        ...

    def leave_group(self) -> None:
        """Tell the lane's sample group, if any, not to wait for this lane."""
        ...

    def notice(self, text: str) -> None:
        """Tell the user something about the reply that is not an error."""
        ...


class SimulatorProtocol(Protocol):
    """A base model that continues documents, token by token, and scores continuations."""

    @property
    def name(self) -> str: ...

    @property
    def n_ctx(self) -> int | None:
        """The context size in tokens; None while a server has not said."""
        ...

    @property
    def sha256(self) -> str | None:
        """The weights' sha256, recorded with each reply; None when they are not here to hash."""
        ...

    def fit(self, mask: Mask, history: list[HistoryTurn], max_tokens: int) -> FittedDocument: ...

    def continue_document(
        self,
        document: str,
        settings: SamplingSettings,
        *,
        lane_key: str = ...,
        alternatives: int = ...,
        cancel: threading.Event | None = ...,
        reply_prefix: str = ...,
        cue: str = ...,
        steering: ControlVector | None = ...,
    ) -> Iterator[Token | Finished]: ...

    def continue_lane(
        self,
        document: str,
        settings: SamplingSettings,
        seat: LaneSeat,
        *,
        lane_key: str,
        alternatives: int,
        reply_prefix: str,
        cue: str,
        steering: ControlVector | None = ...,
    ) -> Iterator[Token | Finished]:
        """`continue_document` for a lane of a turn, run where this simulator's continuations run. Only an
        in-process simulator can be steered (`steering`): a server takes its control vector when it starts."""
        ...

    def run_job(
        self, job: Callable[[], Iterator[T]], worker: LocalWorker, cancel: threading.Event | None = None
    ) -> Iterator[T]:
        """Run a step-wise job of this simulator's (scoring, metrics) where its work belongs; a job whose `cancel`
        is set before it starts yields nothing."""
        ...

    def scoring(self, context: str, continuation: str, *, key: str = ...) -> Generator[None, None, list[float]]:
        """P(each token of `continuation` | `context`), as a step-wise job."""
        ...

    def cue_probability(self, context: str, cue: str, *, key: str = ...) -> Generator[None, None, float | None]:
        """P(`cue` | `context`) as a step-wise job; None when the simulator cannot tell."""
        ...

    def token_logprobs(self, context: str, text: str, *, key: str = ...) -> Generator[None, None, list[Scored]]:
        """Each token of `text` read after `context`, and its log-probability, as a step-wise job (teacher forcing).
        The first token may reach back into `context` when the tokenizer joins the two."""
        ...

    def token_tree(
        self, document: str, k: int, depth: int, min_path_p: float = ..., path: Sequence[TreeNode] = ...
    ) -> Generator[None, None, TokenTree]:
        """The top-k token tree after `document` (then `path`, nodes of an earlier tree), as a step-wise job."""
        ...


class BatchingSimulator(SimulatorProtocol, Protocol):
    """A simulator whose samples of one document can be decoded together on the local worker."""

    def continue_samples(
        self,
        document: str,
        settings: Sequence[SamplingSettings],
        *,
        alternatives: int = ...,
        cancel: threading.Event | None = ...,
        reply_prefix: str = ...,
        cue: str = ...,
        steering: ControlVector | None = ...,
        rows: int = ...,
    ) -> Iterator[tuple[int, Token | Finished]]: ...


@dataclass(frozen=True)
class Continuation:
    """What one lane asks its local simulator to continue, alone or batched by `simulator.sample_group`."""

    simulator: BatchingSimulator
    document: str
    settings: SamplingSettings
    lane_key: str
    alternatives: int
    reply_prefix: str
    cue: str
    steering: ControlVector | None = None

    def alone(self, cancel: threading.Event) -> Iterator[Token | Finished]:
        return self.simulator.continue_document(
            self.document,
            self.settings,
            lane_key=self.lane_key,
            alternatives=self.alternatives,
            cancel=cancel,
            reply_prefix=self.reply_prefix,
            cue=self.cue,
            steering=self.steering,
        )

    def batch_key(self) -> tuple[int, str, str, str, int, str]:
        """Continuations with the same key can be decoded together: only their settings differ (a control vector
        belongs to the whole batched context)."""
        steering = "" if self.steering is None else self.steering.key
        return id(self.simulator), self.document, self.reply_prefix, self.cue, self.alternatives, steering
