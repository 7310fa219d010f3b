"""Blind review out of the database: judgements as CSV or JSONL (with both replies, their identities and the
prompt), DPO preference pairs from the votes that chose a reply, and the leaderboard as Markdown, CSV or JSON."""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from typing import Any

from storage.judgements import JudgementRow, ReplyText
from ui.service.review.leaderboard import Leaderboard

__all__ = ["JUDGEMENT_FORMATS", "LEADERBOARD_FORMATS", "judgements_export", "leaderboard_export"]

JUDGEMENT_FORMATS = ("csv", "jsonl", "dpo")
LEADERBOARD_FORMATS = ("md", "csv", "json")


def _winner(row: JudgementRow) -> int | None:
    return {"left": row.left.message_id, "right": row.right.message_id}.get(row.better)


def _record(row: JudgementRow, texts: dict[int, ReplyText]) -> dict[str, Any]:
    left, right = texts.get(row.left.message_id), texts.get(row.right.message_id)
    record: dict[str, Any] = {
        "id": row.id,
        "created_at": row.created_at.isoformat(),
        "reviewer": row.reviewer,
        "question_set": row.question_set,
        "pair": row.pair,
        "prompt": left.prompt if left else "",
        "better": row.better,
        "winner_message_id": _winner(row),
        "answers": row.answers,
        "note": row.note,
    }
    for side, reply, text in (("left", row.left, left), ("right", row.right, right)):
        record.update(
            {
                f"{side}_message_id": reply.message_id,
                f"{side}_label": reply.label,
                f"{side}_model": reply.model,
                f"{side}_mask": reply.mask,
                f"{side}_seed": reply.seed,
                f"{side}_text": text.content if text else "",
            }
        )
    return record


def _dpo(rows: list[JudgementRow], texts: dict[int, ReplyText]) -> str:
    """One line per vote that chose a reply: TRL's prompt/chosen/rejected, with the reviewer, how many votes on
    the pair chose the same reply (`agreement`, this one included) and how many votes the pair has."""
    choices = Counter((row.pair, _winner(row)) for row in rows)
    votes = Counter(row.pair for row in rows)
    lines = []
    for row in rows:
        winner = _winner(row)
        if winner is None:
            continue
        loser = row.right.message_id if winner == row.left.message_id else row.left.message_id
        chosen, rejected = texts[winner], texts[loser]
        line = {
            "prompt": chosen.prompt,
            "chosen": chosen.content,
            "rejected": rejected.content,
            "reviewer": row.reviewer,
            "agreement": choices[(row.pair, winner)],
            "votes": votes[row.pair],
            "pair": row.pair,
            "chosen_message_id": winner,
            "rejected_message_id": loser,
        }
        lines.append(json.dumps(line, ensure_ascii=False) + "\n")
    return "".join(lines)


def judgements_export(rows: list[JudgementRow], texts: dict[int, ReplyText], fmt: str) -> str:
    """`csv`, `jsonl` or `dpo` (see _dpo); `fmt` is checked by the caller."""
    if fmt == "dpo":
        return _dpo(rows, texts)
    records = [_record(row, texts) for row in rows]
    if fmt == "jsonl":
        return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
    out = io.StringIO()
    fields = list(records[0]) if records else list(_EMPTY_FIELDS)
    writer = csv.DictWriter(out, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    for record in records:
        writer.writerow({**record, "answers": json.dumps(record["answers"], ensure_ascii=False)})
    return out.getvalue()


_EMPTY_FIELDS = ("id", "created_at", "reviewer", "question_set", "pair", "prompt", "better", "winner_message_id")


def _cell(value: float | None) -> str:
    return "" if value is None else f"{value:.3f}"


def _leaderboard_rows(board: Leaderboard) -> list[dict[str, Any]]:
    keys = sorted({key for entry in board.entries for key in entry.questions})
    rows = []
    for rank, entry in enumerate(board.entries, start=1):
        row: dict[str, Any] = {
            "rank": rank,
            board.by: entry.name,
            "strength": _cell(entry.strength),
            "low": _cell(entry.low),
            "high": _cell(entry.high),
            "votes": entry.votes,
            "wins": entry.wins,
            "ties": entry.ties,
            "losses": entry.losses,
        }
        for key in keys:
            rate = entry.questions.get(key)
            row[key] = _cell(rate.rate) if rate else ""
        rows.append(row)
    return rows


def leaderboard_export(board: Leaderboard, fmt: str) -> str:
    """`md`, `csv` or `json`; `fmt` is checked by the caller."""
    if fmt == "json":
        return board.model_dump_json(indent=2) + "\n"
    rows = _leaderboard_rows(board)
    fields = list(rows[0]) if rows else ["rank", board.by, "strength", "low", "high", "votes"]
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=fields, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        return out.getvalue()
    bias, agreement = board.position_bias.left_wins, board.agreement
    if not board.entries:
        return "No judgements yet: `simulacra review next` shows a pair to judge.\n"
    lines = ["| " + " | ".join(fields) + " |", "|" + "---|" * len(fields)]
    lines += ["| " + " | ".join(str(row[f]).replace("|", "\\|") for f in fields) + " |" for row in rows]
    lines.append("")
    lines.append(
        f"Position bias: the left reply won {_cell(bias.rate) or 'n/a'} of {bias.trials} decisive votes "
        f"(95% interval {bias.low:.3f}–{bias.high:.3f})."
    )
    kappa = "n/a" if agreement.kappa is None else f"{agreement.kappa:.3f}"
    lines.append(
        f"Agreement: {agreement.method or 'none'} kappa {kappa} on {agreement.pairs} pairs judged by "
        f"two reviewers or more ({agreement.reviewers} reviewers)."
    )
    return "\n".join(lines) + "\n"
