"""A run's report from its stored samples: each sampled scorer aggregated per cell and per lane (a rate with its
Wilson interval, a mean with its seeded bootstrap interval), the cells' next_token/choice results, and each
expectation's verdict computed from those measurements (never written in)."""

from __future__ import annotations

from collections.abc import Sequence

from personas.scorer_kinds import RATE_KINDS
from personas.suites import Expectation, Suite
from simulator.values import Steering
from storage.tables.experiments import Run, RunCell, RunSample
from ui.service.experiments.posteriors import confusions
from ui.service.experiments.report import RunReport
from ui.service.experiments.report_models import (
    CellReport,
    DirectionReport,
    ExactVerdict,
    ExpectationVerdict,
    Figure,
    JudgesUsed,
    LaneReport,
    Likelihood,
    MeanFigure,
    MeasuredVerdict,
    RateFigure,
    SampleLink,
    SampleProgress,
)
from ui.service.experiments.scorers import figure_scorers
from ui.service.statistics.rates import Interval, bootstrap_mean, exact_verdict, rate_decision, verdict, wilson


def _rounded(i: Interval | None) -> tuple[float | None, float | None, float | None, int]:
    if i is None:
        return None, None, None, 0
    return round(i.value, 6), round(i.low, 6), round(i.high, 6), i.n


def aggregate(suite: Suite, samples: Sequence[RunSample]) -> dict[str, Figure]:
    """Each sampled scorer over `samples`: a rate (Wilson) or a mean (bootstrap, seeded with the suite's seed)."""
    out: dict[str, Figure] = {}
    for scorer in figure_scorers(suite):
        values = [s.scores.get(scorer.name) for s in samples]
        if scorer.kind in RATE_KINDS:
            counted = [v for v in values if isinstance(v, bool)]
            rate, low, high, n = _rounded(wilson(sum(counted), len(counted)))
            out[scorer.name] = RateFigure(kind=scorer.kind, rate=rate, low=low, high=high, n=n, successes=sum(counted))
        else:
            numbers = [float(v) for v in values if isinstance(v, int | float) and not isinstance(v, bool)]
            mean, low, high, n = _rounded(bootstrap_mean(numbers, suite.seed))
            out[scorer.name] = MeanFigure(kind=scorer.kind, mean=mean, low=low, high=high, n=n)
    return out


def _p(likelihoods: Sequence[dict[str, Likelihood]], scorer: str, text: str | None) -> float | None:
    values = [
        c.p
        for result in likelihoods
        if scorer in result
        for c in result[scorer].continuations
        if c.continuation == text
    ]
    return sum(values) / len(values) if values else None


def verdict_of(e: Expectation, lane: LaneReport, description: str = "") -> ExpectationVerdict:
    """The verdict of one expectation from the lane's measurements; `description` is what its scorer counts."""
    cells = [c for c in lane.cells if e.prompt is None or c.prompt_index == e.prompt - 1]
    if e.left.stat == "p":
        likelihoods = [cell.likelihoods for cell in cells if cell.likelihoods]
        value = _p(likelihoods, e.left.scorer, e.left.text)
        threshold = e.threshold if e.other is None else _p(likelihoods, e.other.scorer, e.other.text)
        return ExactVerdict(
            expectation=e.text,
            lane=e.lane,
            prompt=e.prompt,
            op=e.op,
            value=value,
            threshold=threshold,
            verdict="undecided" if threshold is None else exact_verdict(value, e.op, threshold),
            scorer=e.left.scorer,
            description=description,
        )
    measured_over = lane.scorers if e.prompt is None else cells[0].scorers if cells else {}
    return _measured(e, measured_over.get(e.left.scorer), description)


def _measured(e: Expectation, figure: Figure | None, description: str) -> MeasuredVerdict:
    assert e.threshold is not None
    close, needed = False, None
    if isinstance(figure, RateFigure) and figure.n:
        decision = rate_decision(figure.successes, figure.n, e.op, e.threshold)
        close, needed = decision.close, decision.samples_needed
    return MeasuredVerdict(
        expectation=e.text,
        lane=e.lane,
        prompt=e.prompt,
        op=e.op,
        value=None if figure is None else figure.value,
        low=None if figure is None else figure.low,
        high=None if figure is None else figure.high,
        threshold=e.threshold,
        n=0 if figure is None else figure.n,
        verdict=verdict(None if figure is None else figure.interval, e.op, e.threshold),
        close=close,
        samples_needed=needed,
        scorer=e.left.scorer,
        description=description,
    )


def build_report(
    suite: Suite,
    run: Run,
    cells: Sequence[RunCell],
    samples: Sequence[RunSample],
    texts: dict[int, str],
    steerings: dict[str, Steering] | None = None,
) -> RunReport:
    """`steerings`: each steered lane's steering, by lane spec, once its vector is known."""
    steerings = steerings or {}
    by_cell: dict[int, list[RunSample]] = {}
    for sample in samples:
        by_cell.setdefault(sample.cell_id, []).append(sample)
    lanes: list[LaneReport] = []
    for spec in suite.lanes:
        lane_cells = [c for c in cells if c.lane == spec]
        pooled = [s for c in lane_cells for s in by_cell.get(c.id or 0, [])]
        lanes.append(
            LaneReport(
                lane=spec,
                steering=steerings[spec].label if spec in steerings else None,
                alpha=steerings[spec].alpha if spec in steerings else None,
                samples=len(pooled),
                scorers=aggregate(suite, pooled),
                cells=[_cell(suite, c, by_cell.get(c.id or 0, []), texts) for c in lane_cells],
            )
        )
    by_lane = {lane.lane: lane for lane in lanes}
    assert run.id is not None
    return RunReport(
        run_id=run.id,
        suite=suite.name,
        claim=suite.claim,
        status=run.status,
        error=run.error,
        replay_of=run.replay_of,
        samples_per_cell=suite.samples,
        seeds=f"{suite.seed}..{suite.seed + suite.samples - 1} (sample i: seed {suite.seed} + i, in every cell)",
        settings=suite.settings,
        judges=_judges(suite, run),
        model_sha256=run.model_sha256,
        progress=SampleProgress(samples_done=run.samples_done, samples_total=run.samples_total),
        started_at=run.started_at.isoformat(),
        finished_at=run.finished_at.isoformat() if run.finished_at else None,
        prompts=suite.prompts,
        lanes=lanes,
        verdicts=[
            verdict_of(e, by_lane[e.lane], _described(suite, e)) for e in suite.expectations if e.lane in by_lane
        ],
        confusions=confusions(suite, samples),
        directions=[
            DirectionReport.model_validate({"scorer": k, **v}) for k, v in run.settings.get("results", {}).items()
        ],
    )


def _described(suite: Suite, e: Expectation) -> str:
    """What the expectation's scorer counts, in the suite's words: what the verdict is about."""
    return str(suite.scorer(e.left.scorer).description)


def _judges(suite: Suite, run: Run) -> JudgesUsed | None:
    """The suite's judge scorers and whether this run asked them (None: the suite has none)."""
    judges = {s.name: s.model for s in suite.scorers if s.kind == "judge"}
    return JudgesUsed(on=bool(run.settings.get("judges")), models=judges) if judges else None


def _cell(suite: Suite, cell: RunCell, samples: list[RunSample], texts: dict[int, str]) -> CellReport:
    likelihoods = cell.likelihoods
    return CellReport(
        prompt_index=cell.prompt_index,
        conversation_id=cell.conversation_id,
        scorers=aggregate(suite, samples),
        likelihoods=None if likelihoods is None else {k: Likelihood.model_validate(v) for k, v in likelihoods.items()},
        samples=[
            SampleLink(
                index=s.sample_index,
                seed=s.seed,
                message_id=s.message_id,
                conversation_id=cell.conversation_id,
                scores=s.scores,
                text=texts.get(s.message_id or 0),
                retries=s.retries,
            )
            for s in sorted(samples, key=lambda s: s.sample_index)
        ],
    )
