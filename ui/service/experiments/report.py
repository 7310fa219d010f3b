"""A run's report: per cell and per lane (its prompts pooled), each scorer's rate with a Wilson 95% interval or
metric mean with a bootstrap 95% interval, the next_token/choice results, each expectation's verdict, and a link
(conversation and message id, seed) to every saved sample. Exported as JSON, Markdown and CSV; built from a
run's samples in ui.service.experiments.aggregate."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from pydantic import BaseModel, ConfigDict, field_serializer

from personas.suites import Prompt, Sampling
from ui.service.experiments.report_models import (
    Confusion,
    DirectionReport,
    ExpectationVerdict,
    Figure,
    JudgesUsed,
    LaneReport,
    MeasuredVerdict,
    RateFigure,
    SampleProgress,
    decision_note,
)


class RunReport(BaseModel):
    model_config = ConfigDict(frozen=True)

    run_id: int
    suite: str
    claim: str
    status: str
    error: str | None
    replay_of: int | None
    samples_per_cell: int
    seeds: str  # in words: which seed each sample index was drawn with
    settings: Sampling
    judges: JudgesUsed | None  # None: the suite has no judge scorer
    model_sha256: dict[str, str | None]  # None: a model on a server, with no file here
    progress: SampleProgress
    started_at: str  # ISO 8601
    finished_at: str | None
    prompts: list[Prompt]
    lanes: list[LaneReport]
    verdicts: list[ExpectationVerdict]
    confusions: list[Confusion] = []  # one per mask_posterior scorer: who is speaking?, worn against guessed
    directions: list[DirectionReport] = []  # the persona_direction scorer's fit, once the run has made it

    @field_serializer("prompts")
    def _prompts(self, prompts: list[Prompt]) -> list[dict[str, Any]]:
        # As the suite file writes a prompt: only the form it has.
        return [p.model_dump(mode="json", exclude_none=True) for p in prompts]

    def to_json(self) -> str:
        # Python mode, then json.dumps: a -inf logprob (a token of probability 0) prints as -Infinity, as
        # json.dumps always wrote it; pydantic's JSON mode would make it null.
        return json.dumps(self.model_dump(), ensure_ascii=False, indent=2)

    def to_markdown(self) -> str:
        return render_markdown(self)

    def to_csv(self) -> str:
        return render_csv(self)


def _figure(stats: Figure) -> str:
    interval = stats.interval
    if interval is None:
        return "n/a"
    extra = f" ({stats.successes}/{stats.n})" if isinstance(stats, RateFigure) else f" (n={stats.n})"
    return f"{interval.value:.3g} [{interval.low:.3g}, {interval.high:.3g}]{extra}"


def _escape(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def render_markdown(report: RunReport) -> str:
    lines = [f"# {report.suite} · run {report.run_id} ({report.status})", "", f"> {_escape(report.claim)}", ""]
    lines += [
        f"Samples per cell: {report.samples_per_cell}; seeds {report.seeds};"
        f" settings {json.dumps(report.settings.model_dump(mode='json'))}.",
        "",
    ]
    if report.judges:
        judges = ", ".join(f"{name} ({model})" for name, model in report.judges.models.items())
        on = "on" if report.judges.on else "off, so they are n/a (run with --judge to ask them)"
        lines += [f"Judge scorers: {_escape(judges)}; {on}.", ""]
    names = sorted({name for lane in report.lanes for name in lane.scorers})
    if names:
        lines += ["| lane | samples | " + " | ".join(names) + " |", "|---|---|" + "---|" * len(names)]
        for lane in report.lanes:
            cells = [_figure(lane.scorers[n]) if n in lane.scorers else "" for n in names]
            lines.append(f"| {_escape(lane.label)} | {lane.samples} | " + " | ".join(cells) + " |")
        lines += ["", "Rates: Wilson 95% interval; means: bootstrap 95% interval.", ""]
    for direction in report.directions:
        lines += _markdown_direction(direction)
    lines += _markdown_likelihoods(report)
    for confusion in report.confusions:
        lines += _markdown_confusion(confusion)
    if report.verdicts:
        lines += _markdown_verdicts(report.verdicts)
    lines += ["## Samples", ""]
    for lane in report.lanes:
        for cell in lane.cells:
            ids = ", ".join(str(s.message_id) for s in cell.samples)
            lines.append(
                f"- {_escape(lane.lane)}, prompt {cell.prompt_index + 1}: conversation"
                f" {cell.conversation_id}, messages {ids or 'none'}"
            )
    return "\n".join(lines) + "\n"


def _markdown_verdicts(verdicts: list[ExpectationVerdict]) -> list[str]:
    lines = ["## Verdicts", "", "| expectation | scorer | measured | verdict |", "|---|---|---|---|"]
    for v in verdicts:
        measured = "n/a" if v.value is None else f"{v.value:.4g}"
        if isinstance(v, MeasuredVerdict) and v.low is not None and v.high is not None:
            measured += f" [{v.low:.3g}, {v.high:.3g}]"
        if isinstance(v, MeasuredVerdict) and v.n:
            measured += f" (n={v.n})"
        scorer = f"{v.scorer}: {v.description}" if v.description else v.scorer
        note = f" ({decision_note(v)})" if decision_note(v) else ""
        lines.append(f"| `{_escape(v.expectation)}` | {_escape(scorer)} | {measured} | **{v.verdict}**{note} |")
    return [*lines, ""]


def _markdown_direction(d: DirectionReport) -> list[str]:
    """The fit in a sentence, then each layer's held-out AUC in a compact table (layers across)."""
    lines = [f"## Direction {_escape(d.direction)} ({_escape(d.scorer)})", "", d.summary, ""]
    lines += [
        f"Toward {_escape(d.toward)} minus {_escape(d.away)}, per layer, over each reply's own tokens; fitted on"
        f" {len(d.prompts)} prompt(s) ({', '.join(f'{c} {m}' for m, c in d.fit_n.items())} replies), measured on"
        f" {len(d.held_out)} held out; ROC AUC with {_escape(d.toward)} positive, bootstrap 95% interval; stored as"
        f" {_escape(d.direction)} (vector {d.vector_sha256[:12]}).",
        "",
        "| layer | " + " | ".join(str(x.layer) for x in d.layers) + " |",
        "|---|" + "---|" * len(d.layers),
        "| AUC | " + " | ".join(f"{x.auc:.2f}" for x in d.layers) + " |",
        "| low | " + " | ".join(f"{x.low:.2f}" for x in d.layers) + " |",
        "| high | " + " | ".join(f"{x.high:.2f}" for x in d.layers) + " |",
        "",
    ]
    return lines


def _markdown_confusion(confusion: Confusion) -> list[str]:
    """Rows: the mask each reply's lane wore; columns: the mask its posterior named."""
    lines = [f"## Who is speaking? ({_escape(confusion.scorer)})", ""]
    lines += [
        "| worn ↓ guessed → | " + " | ".join(map(_escape, confusion.masks)) + " |",
        "|---|" + "---|" * len(confusion.masks),
    ]
    for worn, row in confusion.rows.items():
        lines.append(f"| {_escape(worn)} | " + " | ".join(str(row[m]) for m in confusion.masks) + " |")
    return [*lines, "", f"Accuracy: {_figure(confusion.accuracy)}, Wilson 95% interval.", ""]


def _markdown_likelihoods(report: RunReport) -> list[str]:
    rows = []
    for lane in report.lanes:
        for cell in lane.cells:
            for name, result in (cell.likelihoods or {}).items():
                ps = ", ".join(
                    f"{json.dumps(c.continuation, ensure_ascii=False)}: {c.p:.4g}" for c in result.continuations
                )
                rows.append(f"| {_escape(lane.lane)} | {cell.prompt_index + 1} | {name} | {_escape(ps)} |")
    if not rows:
        return []
    return ["## Next-token probabilities", "", "| lane | prompt | scorer | P(continuation) |", "|---|---|---|---|"] + [
        *rows,
        "",
    ]


def render_csv(report: RunReport) -> str:
    """One row per lane x prompt (`all`: pooled) x scorer, one per next_token continuation, and a mask_posterior
    scorer's confusion counts and accuracy."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["run_id", "lane", "prompt", "scorer", "kind", "statistic", "value", "low", "high", "n"])
    for lane in report.lanes:
        groups = [("all", lane.scorers)] + [(str(c.prompt_index + 1), c.scorers) for c in lane.cells]
        for prompt, scorers in groups:
            for name, s in scorers.items():
                statistic = "rate" if isinstance(s, RateFigure) else "mean"
                row = [report.run_id, lane.lane, prompt, name, s.kind, statistic, s.value, s.low, s.high, s.n]
                writer.writerow(row)
        for cell in lane.cells:
            for name, result in (cell.likelihoods or {}).items():
                for c in result.continuations:
                    prompt = str(cell.prompt_index + 1)
                    row = [report.run_id, lane.lane, prompt, name, result.kind, f"p({c.continuation})"]
                    writer.writerow([*row, c.p, "", "", 1])
    _csv_confusions(writer, report)
    for d in report.directions:
        for x in d.layers:
            writer.writerow(
                [report.run_id, "all", "held out", d.scorer, "persona_direction", f"auc layer {x.layer}"]
                + [x.auc, x.low, x.high, sum(d.n.values())]
            )
    return out.getvalue()


def _csv_confusions(writer: Any, report: RunReport) -> None:
    """A mask_posterior scorer's confusion counts (worn, guessed), then its accuracy with the Wilson interval."""
    for confusion in report.confusions:
        head = [report.run_id, "all", "all", confusion.scorer, confusion.accuracy.kind]
        for worn, counts in confusion.rows.items():
            for guess, count in counts.items():
                writer.writerow([*head, f"worn {worn}, guessed {guess}", count, "", "", ""])
        a = confusion.accuracy
        writer.writerow([*head, "accuracy", a.rate, a.low, a.high, a.n])
