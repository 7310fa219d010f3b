"""A run's results as a report: per cell and per lane (its prompts pooled), each scorer's rate with a Wilson
95% interval or metric mean with a bootstrap 95% interval, the next_token/choice results, each expectation's
verdict, and a link (conversation and message id, seed) to every saved sample. JSON, Markdown and CSV."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from personas.scorer_kinds import RATE_KINDS
from personas.suites import Expectation, Suite
from storage.tables.experiments import Run, RunCell, RunSample
from ui.service.experiments.scorers import sampled_scorers
from ui.service.statistics.rates import Interval, bootstrap_mean, exact_verdict, rate_decision, verdict, wilson


@dataclass(frozen=True)
class RunReport:
    data: dict[str, Any]

    def to_json(self) -> str:
        return json.dumps(self.data, ensure_ascii=False, indent=2)

    def to_markdown(self) -> str:
        return render_markdown(self.data)

    def to_csv(self) -> str:
        return render_csv(self.data)


def _interval(i: Interval | None, key: str) -> dict[str, Any]:
    if i is None:
        return {key: None, "low": None, "high": None, "n": 0}
    return {key: round(i.value, 6), "low": round(i.low, 6), "high": round(i.high, 6), "n": i.n}


def aggregate(suite: Suite, samples: Sequence[RunSample]) -> dict[str, dict[str, Any]]:
    """Each sampled scorer over `samples`: a rate (Wilson) or a mean (bootstrap, seeded with the suite's seed)."""
    out: dict[str, dict[str, Any]] = {}
    for scorer in sampled_scorers(suite):
        values = [s.scores.get(scorer.name) for s in samples]
        if scorer.kind in RATE_KINDS:
            counted = [v for v in values if isinstance(v, bool)]
            out[scorer.name] = {"kind": scorer.kind, **_interval(wilson(sum(counted), len(counted)), "rate")}
            out[scorer.name]["successes"] = sum(counted)
        else:
            numbers = [float(v) for v in values if isinstance(v, int | float) and not isinstance(v, bool)]
            out[scorer.name] = {"kind": scorer.kind, **_interval(bootstrap_mean(numbers, suite.seed), "mean")}
    return out


def _p(likelihoods: Sequence[dict[str, Any]], scorer: str, text: str | None) -> float | None:
    values = [
        c["p"]
        for result in likelihoods
        if scorer in result
        for c in result[scorer]["continuations"]
        if c["continuation"] == text
    ]
    return sum(values) / len(values) if values else None


def judge(e: Expectation, lane: dict[str, Any]) -> dict[str, Any]:
    """The verdict of one expectation from the lane's measurements (never written in)."""
    result: dict[str, Any] = {"expectation": e.text, "lane": e.lane, "prompt": e.prompt, "op": e.op}
    cells = [c for c in lane["cells"] if e.prompt is None or c["prompt_index"] == e.prompt - 1]
    if e.left.stat == "p":
        likelihoods = [cell["likelihoods"] for cell in cells if cell["likelihoods"]]
        value = _p(likelihoods, e.left.scorer, e.left.text)
        threshold = e.threshold if e.other is None else _p(likelihoods, e.other.scorer, e.other.text)
        result.update(value=value, threshold=threshold)
        result["verdict"] = "undecided" if threshold is None else exact_verdict(value, e.op, threshold)
        return result
    measured_over = lane["scorers"] if e.prompt is None else cells[0]["scorers"] if cells else {}
    stats = measured_over.get(e.left.scorer, {})
    key = "rate" if e.left.stat == "rate" else "mean"
    assert e.threshold is not None
    measured = None if stats.get(key) is None else Interval(stats[key], stats["low"], stats["high"], stats["n"])
    result.update(value=stats.get(key), low=stats.get("low"), high=stats.get("high"), threshold=e.threshold)
    result.update(n=stats.get("n", 0), verdict=verdict(measured, e.op, e.threshold), close=False, samples_needed=None)
    if key == "rate" and stats.get("n") and "successes" in stats:
        decision = rate_decision(stats["successes"], stats["n"], e.op, e.threshold)
        result.update(close=decision.close, samples_needed=decision.samples_needed)
    return result


def decision_note(v: dict[str, Any]) -> str:
    """How firmly a verdict's samples give it, in the words the page and the report both use ("" when firmly)."""
    needed, n = v.get("samples_needed"), v.get("n")
    if v["verdict"] == "undecided" and needed is not None:
        return f"{n} samples do not decide it: at the measured rate, {needed} would"
    if v["verdict"] == "undecided" and n and v.get("value") == v.get("threshold"):
        return "the measured rate is the threshold itself: no number of samples at this rate decides it"
    if v.get("close") and needed is not None:
        return (
            f"close: one more sample the other way would leave it undecided; at the measured rate, {needed} samples"
            " would decide it even then"
        )
    return ""


def build_report(
    suite: Suite, run: Run, cells: Sequence[RunCell], samples: Sequence[RunSample], texts: dict[int, str]
) -> RunReport:
    by_cell: dict[int, list[RunSample]] = {}
    for sample in samples:
        by_cell.setdefault(sample.cell_id, []).append(sample)
    lanes: list[dict[str, Any]] = []
    for spec in suite.lanes:
        lane_cells = [c for c in cells if c.lane == spec]
        pooled = [s for c in lane_cells for s in by_cell.get(c.id or 0, [])]
        lanes.append(
            {
                "lane": spec,
                "samples": len(pooled),
                "scorers": aggregate(suite, pooled),
                "cells": [_cell(suite, c, by_cell.get(c.id or 0, []), texts) for c in lane_cells],
            }
        )
    by_lane = {lane["lane"]: lane for lane in lanes}
    data = {
        "run_id": run.id,
        "suite": suite.name,
        "claim": suite.claim,
        "status": run.status,
        "error": run.error,
        "replay_of": run.replay_of,
        "samples_per_cell": suite.samples,
        "seeds": f"{suite.seed}..{suite.seed + suite.samples - 1} (sample i: seed {suite.seed} + i, in every cell)",
        "settings": suite.settings.model_dump(mode="json"),
        "judges": _judges(suite, run),
        "model_sha256": run.model_sha256,
        "progress": {"samples_done": run.samples_done, "samples_total": run.samples_total},
        "started_at": run.started_at.isoformat(),
        "finished_at": run.finished_at.isoformat() if run.finished_at else None,
        "prompts": [p.model_dump(mode="json", exclude_none=True) for p in suite.prompts],
        "lanes": lanes,
        "verdicts": [
            {**judge(e, by_lane[e.lane]), "scorer": e.left.scorer, "description": _described(suite, e)}
            for e in suite.expectations
            if e.lane in by_lane
        ],
    }
    return RunReport(data)


def _described(suite: Suite, e: Expectation) -> str:
    """What the expectation's scorer counts, in the suite's words: what the verdict is about."""
    return str(suite.scorer(e.left.scorer).description)


def _judges(suite: Suite, run: Run) -> dict[str, Any] | None:
    """The suite's judge scorers and whether this run asked them (None: the suite has none)."""
    judges = {s.name: s.model for s in suite.scorers if s.kind == "judge"}
    return {"on": bool(run.settings.get("judges")), "models": judges} if judges else None


def _cell(suite: Suite, cell: RunCell, samples: list[RunSample], texts: dict[int, str]) -> dict[str, Any]:
    return {
        "prompt_index": cell.prompt_index,
        "conversation_id": cell.conversation_id,
        "scorers": aggregate(suite, samples),
        "likelihoods": cell.likelihoods,
        "samples": [
            {
                "index": s.sample_index,
                "seed": s.seed,
                "message_id": s.message_id,
                "conversation_id": cell.conversation_id,
                "scores": s.scores,
                "text": texts.get(s.message_id or 0),
            }
            for s in sorted(samples, key=lambda s: s.sample_index)
        ],
    }


def _figure(stats: dict[str, Any]) -> str:
    key = "rate" if "rate" in stats else "mean"
    if stats.get(key) is None:
        return "n/a"
    extra = f" ({stats['successes']}/{stats['n']})" if key == "rate" else f" (n={stats['n']})"
    return f"{stats[key]:.3g} [{stats['low']:.3g}, {stats['high']:.3g}]{extra}"


def _escape(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def render_markdown(data: dict[str, Any]) -> str:
    lines = [f"# {data['suite']} · run {data['run_id']} ({data['status']})", "", f"> {_escape(data['claim'])}", ""]
    lines += [
        f"Samples per cell: {data['samples_per_cell']}; seeds {data['seeds']};"
        f" settings {json.dumps(data['settings'])}.",
        "",
    ]
    if data.get("judges"):
        judges = ", ".join(f"{name} ({model})" for name, model in data["judges"]["models"].items())
        on = "on" if data["judges"]["on"] else "off, so they are n/a (run with --judge to ask them)"
        lines += [f"Judge scorers: {_escape(judges)}; {on}.", ""]
    names = sorted({name for lane in data["lanes"] for name in lane["scorers"]})
    if names:
        lines += ["| lane | samples | " + " | ".join(names) + " |", "|---|---|" + "---|" * len(names)]
        for lane in data["lanes"]:
            cells = [_figure(lane["scorers"][n]) if n in lane["scorers"] else "" for n in names]
            lines.append(f"| {_escape(lane['lane'])} | {lane['samples']} | " + " | ".join(cells) + " |")
        lines += ["", "Rates: Wilson 95% interval; means: bootstrap 95% interval.", ""]
    lines += _markdown_likelihoods(data)
    if data["verdicts"]:
        lines += _markdown_verdicts(data["verdicts"])
    lines += ["## Samples", ""]
    for lane in data["lanes"]:
        for cell in lane["cells"]:
            ids = ", ".join(str(s["message_id"]) for s in cell["samples"])
            lines.append(
                f"- {_escape(lane['lane'])}, prompt {cell['prompt_index'] + 1}: conversation"
                f" {cell['conversation_id']}, messages {ids or 'none'}"
            )
    return "\n".join(lines) + "\n"


def _markdown_verdicts(verdicts: list[dict[str, Any]]) -> list[str]:
    lines = ["## Verdicts", "", "| expectation | scorer | measured | verdict |", "|---|---|---|---|"]
    for v in verdicts:
        measured = "n/a" if v.get("value") is None else f"{v['value']:.4g}"
        if v.get("low") is not None:
            measured += f" [{v['low']:.3g}, {v['high']:.3g}]"
        if v.get("n"):
            measured += f" (n={v['n']})"
        scorer = f"{v['scorer']}: {v['description']}" if v.get("description") else v.get("scorer", "")
        note = f" ({decision_note(v)})" if decision_note(v) else ""
        lines.append(f"| `{_escape(v['expectation'])}` | {_escape(scorer)} | {measured} | **{v['verdict']}**{note} |")
    return [*lines, ""]


def _markdown_likelihoods(data: dict[str, Any]) -> list[str]:
    rows = []
    for lane in data["lanes"]:
        for cell in lane["cells"]:
            for name, result in (cell["likelihoods"] or {}).items():
                ps = ", ".join(
                    f"{json.dumps(c['continuation'], ensure_ascii=False)}: {c['p']:.4g}"
                    for c in result["continuations"]
                )
                rows.append(f"| {_escape(lane['lane'])} | {cell['prompt_index'] + 1} | {name} | {_escape(ps)} |")
    if not rows:
        return []
    return ["## Next-token probabilities", "", "| lane | prompt | scorer | P(continuation) |", "|---|---|---|---|"] + [
        *rows,
        "",
    ]


def render_csv(data: dict[str, Any]) -> str:
    """One row per lane x prompt (`all`: pooled) x scorer, and one per next_token continuation."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["run_id", "lane", "prompt", "scorer", "kind", "statistic", "value", "low", "high", "n"])
    for lane in data["lanes"]:
        groups = [("all", lane["scorers"])] + [(str(c["prompt_index"] + 1), c["scorers"]) for c in lane["cells"]]
        for prompt, scorers in groups:
            for name, s in scorers.items():
                key = "rate" if "rate" in s else "mean"
                row = [data["run_id"], lane["lane"], prompt, name, s["kind"], key, s[key], s["low"], s["high"], s["n"]]
                writer.writerow(row)
        for cell in lane["cells"]:
            for name, result in (cell["likelihoods"] or {}).items():
                for c in result["continuations"]:
                    prompt = str(cell["prompt_index"] + 1)
                    row = [data["run_id"], lane["lane"], prompt, name, result["kind"], f"p({c['continuation']})"]
                    writer.writerow([*row, c["p"], "", "", 1])
    return out.getvalue()
