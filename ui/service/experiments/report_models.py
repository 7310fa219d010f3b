"""The typed parts of a run's report, and of the stored runs list: what the Experiments page, the CLI and the
report's exports read. Field order is the order `--json` prints the keys in, so it is part of that output."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from ui.service.statistics.rates import Interval, Op, Verdict


class _Part(BaseModel):
    model_config = ConfigDict(frozen=True)


class RateFigure(_Part):
    """A pass/fail scorer over some samples: the rate of passes with its Wilson 95% interval (None: no sample
    was scored)."""

    kind: str
    rate: float | None
    low: float | None
    high: float | None
    n: int
    successes: int

    @property
    def value(self) -> float | None:
        return self.rate

    @property
    def interval(self) -> Interval | None:
        if self.rate is None or self.low is None or self.high is None:
            return None
        return Interval(self.rate, self.low, self.high, self.n)


class MeanFigure(_Part):
    """A metric scorer over some samples: its mean with a bootstrap 95% interval (None: no sample had it)."""

    kind: str
    mean: float | None
    low: float | None
    high: float | None
    n: int

    @property
    def value(self) -> float | None:
        return self.mean

    @property
    def interval(self) -> Interval | None:
        if self.mean is None or self.low is None or self.high is None:
            return None
        return Interval(self.mean, self.low, self.high, self.n)


Figure = RateFigure | MeanFigure


class Continuation(_Part):
    continuation: str
    p: float
    logprob: float
    token_ps: list[float]


class Likelihood(_Part):
    """A next_token/choice result as stored with its cell: the exact document, each continuation's p (the product
    of its tokens' probabilities), and the most likely one."""

    kind: str
    document: str
    continuations: list[Continuation]
    choice: str


class SampleLink(_Part):
    """One saved sample: where it is (conversation and message), its seed, scores and text, and how many times a
    server refused it (429, 5xx) before answering."""

    index: int
    seed: int
    message_id: int | None
    conversation_id: int | None
    scores: dict[str, Any]  # a scorer's bool/float/None, and under JUDGES_KEY what each judge said
    text: str | None
    retries: int = 0


class Confusion(_Part):
    """A mask_posterior scorer over a run: how often replies written under each mask (`rows`, by the mask worn) were
    guessed as each mask (the inner keys, in `masks` order), and the accuracy (the diagonal's share) with its Wilson
    95% interval."""

    scorer: str
    masks: list[str]
    rows: dict[str, dict[str, int]]
    accuracy: RateFigure


class DirectionLayer(_Part):
    """How well one layer's projection separates the held-out replies: ROC AUC (toward positive), bootstrap 95%."""

    layer: int
    auc: float
    low: float
    high: float


class DirectionReport(_Part):
    """A persona_direction scorer's result: the direction stored under `direction` (by `vector_sha256`), fitted on
    the replies to `prompts` (`fit_n` of each mask) and measured on those to `held_out` (`n` of each mask)."""

    scorer: str
    direction: str
    model: str
    vector_sha256: str
    toward: str
    away: str
    positive: str
    prompts: list[str]
    held_out: list[str]
    fit_n: dict[str, int]
    n: dict[str, int]
    best_layer: int
    auc: float
    low: float
    high: float
    layers: list[DirectionLayer]

    @property
    def separated(self) -> bool:
        """The held-out replies are told apart better than chance: the AUC and its whole interval above 0.5."""
        return self.auc > 0.5 and self.low > 0.5

    @property
    def summary(self) -> str:
        """One sentence of our own words and numbers (safe as Markdown), saying plainly when it failed."""
        n = " + ".join(f"{count} {mask}" for mask, count in self.n.items())
        figure = f"held-out AUC {self.auc:.3f} [{self.low:.3f}, {self.high:.3f}] (n = {n}) at layer {self.best_layer}"
        if self.separated:
            return f"{self.direction}: {figure}: the masks are separated."
        return f"{self.direction}: {figure}: the masks are NOT separated (the interval reaches 0.5 or below)."


class CellReport(_Part):
    prompt_index: int  # from 0
    conversation_id: int | None
    scorers: dict[str, Figure]
    likelihoods: dict[str, Likelihood] | None
    samples: list[SampleLink]


class LaneReport(_Part):
    """One lane, its prompts' samples pooled in `scorers`, and each prompt's cell; a steered lane's steering (as
    `Steering.label` words it) and α, once its vector is known."""

    lane: str
    steering: str | None = None
    alpha: float | None = None
    samples: int
    scorers: dict[str, Figure]
    cells: list[CellReport]

    @property
    def label(self) -> str:
        """The lane as figures name it: a steered one with its α and layers (`... · assistant-axis α −1 (L6)`)."""
        return self.lane if self.steering is None else f"{self.lane} · {self.steering}"

    @property
    def short_label(self) -> str:
        """As a chart's axis names it, short enough to be read whole: `base@assistant α −1 (L6)`."""
        if self.steering is None:
            return self.lane
        strength = self.steering.split(" α ", 1)[-1]  # `−1 (L6)`: Steering.label's α and layers
        return f"{self.lane.split('^')[0]} α {strength}"


class JudgesUsed(_Part):
    on: bool
    models: dict[str, str]  # judge scorer -> its model


class SampleProgress(_Part):
    samples_done: int
    samples_total: int


class _Expected(_Part):
    expectation: str  # as written in the suite
    lane: str
    prompt: int | None  # from 1; None: the lane's prompts pooled
    op: Op
    value: float | None


class ExactVerdict(_Expected):
    """An expectation on next_token probabilities, measured without sampling error: no interval."""

    threshold: float | None  # None: the other side's probability is missing
    verdict: Verdict
    scorer: str
    description: str  # what the scorer counts, in the suite's words


class MeasuredVerdict(_Expected):
    """An expectation on a rate or mean, decided by where its 95% interval lies against the threshold; `close` and
    `samples_needed` say how firmly (see `statistics.rates.Decision`)."""

    low: float | None
    high: float | None
    threshold: float
    n: int
    verdict: Verdict
    close: bool
    samples_needed: int | None
    scorer: str
    description: str


ExpectationVerdict = ExactVerdict | MeasuredVerdict


def decision_note(v: ExpectationVerdict) -> str:
    """How firmly a verdict's samples give it, in the words the page and the report both use ("" when firmly)."""
    if not isinstance(v, MeasuredVerdict):
        return ""
    needed, n = v.samples_needed, v.n
    if v.verdict == "undecided" and needed is not None:
        return f"{n} samples do not decide it: at the measured rate, {needed} would"
    if v.verdict == "undecided" and n and v.value == v.threshold:
        return "the measured rate is the threshold itself: no number of samples at this rate decides it"
    if v.close and needed is not None:
        return (
            f"close: one more sample the other way would leave it undecided; at the measured rate, {needed} samples"
            " would decide it even then"
        )
    return ""


class RunRow(_Part):
    """A stored run as the runs list shows it."""

    id: int
    suite: str
    status: str
    samples_done: int
    samples_total: int
    cells: int
    replay_of: int | None
    started_at: str  # ISO 8601
    finished_at: str | None
    error: str | None
    cells_done: int = 0  # cells drawn (of a run whose cells workers lease; a run drawn whole counts its own)
    stopping: bool = False  # Stop was pressed and the workers drawing it have not all let go yet
    workers: dict[str, int] = {}  # samples each worker drew (host:pid), "" for samples older than workers
