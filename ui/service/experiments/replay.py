"""Comparing a replay with the run it replays, sample by sample: same cell, same index, same seed, so any
difference in text or score is the model's (none is expected for local models on the same files; a model on a
server or a cloud API may not repeat a seed, and the report says so)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from sqlmodel import Session

from storage import experiments as store
from storage import repo


@dataclass(frozen=True)
class ReplayReport:
    original_id: int
    replay_id: int
    compared: int
    differences: list[dict[str, Any]] = field(default_factory=list)
    same_models: bool = True
    may_not_repeat: list[str] = field(default_factory=list)  # the run's models that answer from a server

    @property
    def note(self) -> str | None:
        """Why samples may differ with nothing wrong here, or None when every model runs in this process."""
        if not self.may_not_repeat:
            return None
        return (
            f"{', '.join(self.may_not_repeat)} answer from a server or a cloud API, not in this process: a seed"
            " there is a request, not a promise (servers batch requests, reuse cached prompts and update models),"
            " so their samples may differ in any replay."
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.original_id,
            "replay_id": self.replay_id,
            "compared": self.compared,
            "differences": len(self.differences),
            "same_model_files": self.same_models,
            "may_not_repeat": self.may_not_repeat,
            "note": self.note,
            "differing": self.differences,
        }


def _samples(session: Session, run_id: int) -> dict[tuple[int, int], tuple[store.RunSample, str, dict[str, Any]]]:
    cells = {c.id: c for c in store.list_cells(session=session, run_id=run_id)}
    texts: dict[int, str] = {}
    for cell in cells.values():
        if cell.conversation_id is not None:
            texts.update(
                (m.id, m.content)
                for m in repo.list_messages(session=session, conversation_id=cell.conversation_id)
                if m.id is not None
            )
    out = {}
    for s in store.list_samples(session=session, run_id=run_id):
        cell = cells[s.cell_id]
        out[(cell.position, s.sample_index)] = (s, texts.get(s.message_id or 0, ""), cell.likelihoods or {})
    return out


def compare_runs(session: Session, original: store.Run, replay: store.Run) -> ReplayReport:
    assert original.id is not None and replay.id is not None
    before, after = _samples(session, original.id), _samples(session, replay.id)
    differences = []
    for key in sorted(set(before) | set(after)):
        if key not in before or key not in after:
            differences.append({"cell": key[0], "sample": key[1], "what": "missing in one run"})
            continue
        (a, text_a, _), (b, text_b, _) = before[key], after[key]
        what = [w for w, differs in (("text", text_a != text_b), ("scores", a.scores != b.scores)) if differs]
        if what:
            differences.append(
                {
                    "cell": key[0],
                    "sample": key[1],
                    "seed": a.seed,
                    "what": what,
                    "messages": [a.message_id, b.message_id],
                }
            )
    differences += _likelihood_differences(session, original.id, replay.id)
    # A run records each lane model's file sha256, and None for a model with no file here: one on a server.
    remote = sorted(model for model, sha256 in original.model_sha256.items() if sha256 is None)
    same_files = original.model_sha256 == replay.model_sha256
    return ReplayReport(original.id, replay.id, len(before), differences, same_files, remote)


def _likelihood_differences(session: Session, original_id: int, replay_id: int) -> list[dict[str, Any]]:
    a = {c.position: c.likelihoods or {} for c in store.list_cells(session=session, run_id=original_id)}
    b = {c.position: c.likelihoods or {} for c in store.list_cells(session=session, run_id=replay_id)}
    out = []
    for position, results in a.items():
        for name, result in results.items():
            other = b.get(position, {}).get(name)
            ps = [c["p"] for c in result["continuations"]]
            qs = [c["p"] for c in other["continuations"]] if other else []
            same = len(ps) == len(qs) and all(
                math.isclose(p, q, rel_tol=1e-9, abs_tol=1e-12) for p, q in zip(ps, qs, strict=True)
            )
            if not same:
                out.append({"cell": position, "scorer": name, "what": ["likelihoods"]})
    return out
