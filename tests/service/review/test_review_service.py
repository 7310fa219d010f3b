# Blind review through the service the CLI and the page use (SQLite and PostgreSQL): identities hidden until the
# vote is saved, left/right drawn per pair and recorded, every pair once per reviewer, and bad votes refused.

from __future__ import annotations

import csv
import io
import json

import pytest
from sqlalchemy import Engine

from storage.errors import InvalidValue
from tests.support.review import THREE_LANES, save_conversation, save_run
from ui.service.errors import ServiceError
from ui.service.review.queue import parse_pair, shown_order
from ui.service.review.service import Filters, Review, parse_source

IDENTITIES = {word for lane in THREE_LANES for word in lane if word}


def review_everything(review: Review, reviewer: str, better: str = "left") -> list[str]:
    seen = []
    while (queue := review.next_pair(reviewer)).pair is not None:
        assert queue.done == len(seen)
        seen.append(queue.pair.pair)
        review.vote(queue.pair.pair, reviewer=reviewer, better=better)
    assert queue.done == queue.total == len(seen)
    return seen


def test_two_reviewers_each_get_every_pair_once(engine: Engine) -> None:
    save_conversation(engine, prompts=("Who are you?", "And why?"))  # 2 turns x 3 lanes: 6 pairs
    review = Review(engine)
    ada = []
    bo = []
    for _ in range(6):  # interleaved, as two browser sessions would
        for reviewer, seen in (("Ada", ada), ("Bo", bo)):
            queue = review.next_pair(reviewer)
            assert queue.pair is not None and queue.total == 6
            seen.append(queue.pair.pair)
            review.vote(queue.pair.pair, reviewer=reviewer, better="tie")
    assert len(set(ada)) == len(set(bo)) == 6 and set(ada) == set(bo)
    assert review.next_pair("Ada").pair is None and review.next_pair("Cy").total == 6


def test_identities_are_hidden_until_the_vote_and_the_order_shown_is_recorded(engine: Engine) -> None:
    _, [replies] = save_conversation(engine)
    review = Review(engine)
    queue = review.next_pair("Ada")
    assert queue.pair is not None
    shown = queue.pair.model_dump_json()
    assert not [word for word in IDENTITIES if word in shown]
    assert [q.key for q in queue.pair.questions] == ["in_character", "feelings", "speaks_for_user"]
    assert review.next_pair("Ada").pair == queue.pair  # stable until voted on
    revealed = review.vote(queue.pair.pair, reviewer="Ada", better="left", answers={"feelings": "right"})
    assert {revealed.left.label, revealed.right.label} <= {lane[0] for lane in THREE_LANES}
    [row] = json.loads("[" + review.export("jsonl").strip().replace("\n", ",") + "]")
    assert (row["left_text"], row["right_text"]) == (queue.pair.left, queue.pair.right)
    assert row["left_message_id"] == revealed.left.message_id and row["winner_message_id"] in replies
    assert row["answers"] == {"feelings": "right"} and row["left_label"] == revealed.left.label


def test_left_and_right_are_drawn_per_pair_and_reviewer(engine: Engine) -> None:
    save_conversation(engine, prompts=[f"prompt {i}" for i in range(6)])  # 18 pairs
    review = Review(engine)
    orders = []
    while (queue := review.next_pair("Ada")).pair is not None:
        revealed = review.vote(queue.pair.pair, reviewer="Ada", better="right")
        orders.append(revealed.left.message_id < revealed.right.message_id)
    assert len(orders) == 18 and 3 <= sum(orders) <= 15  # both arrangements occur (a fair coin: 18 tosses)


@pytest.mark.parametrize(
    ("pair", "kwargs", "message"),
    [
        ("998-999", {}, "there is no pair 998-999"),
        ("abc", {}, "there is no pair 'abc'"),
        ("2-2", {}, "there is no pair '2-2'"),
        (None, {"answers": {"funny": "left"}}, "no question 'funny'"),
        (None, {"answers": {"feelings": "up"}}, "not one of left, right, both, neither"),
        (None, {"question_set": "nope"}, "no question set 'nope'"),
        (None, {"better": "worse"}, "better is one of left, right, tie, bad"),
    ],
)
def test_a_bad_vote_is_refused_and_saves_nothing(engine: Engine, pair: str | None, kwargs: dict, message: str) -> None:
    _, [[a, b, _]] = save_conversation(engine)
    review = Review(engine)
    arguments = {"reviewer": "Ada", "better": "left", **kwargs}
    with pytest.raises(ServiceError, match=message):
        review.vote(pair or f"{a}-{b}", **arguments)
    assert review.export("jsonl") == ""


def test_a_second_vote_by_the_same_reviewer_is_refused(engine: Engine) -> None:
    _, [[a, b, _]] = save_conversation(engine)
    review = Review(engine)
    review.vote(f"{a}-{b}", reviewer="Ada", better="left")
    with pytest.raises(InvalidValue, match=f"Ada already judged pair {a}-{b}"):
        review.vote(f"{a}-{b}", reviewer="Ada", better="right")


def test_sources_choose_the_pairs(engine: Engine) -> None:
    first, _ = save_conversation(engine)
    save_conversation(engine, samples=2)  # 6 replies: 15 pairs, 3 of them two samples of one lane
    review = Review(engine)
    assert review.next_pair("Ada", parse_source(f"conversation:{first}")).total == 3
    assert review.next_pair("Ada").total == 18
    assert review.next_pair("Ada", parse_source("lane:chat@assistant")).total == 2 + 9
    assert review.next_pair("Ada", parse_source("tag:nothing-tagged")).pair is None
    for bad in ("conversation:x", "planet:mars", "lane:"):
        with pytest.raises(ServiceError, match="source"):
            parse_source(bad)


def test_an_experiment_run_is_a_source_and_a_leaderboard_filter(engine: Engine) -> None:
    conversation, [replies] = save_conversation(engine, samples=2)  # 6 replies: 15 pairs
    run = save_run(engine, conversation, replies[:3])  # 3 of them sampled by the run: 3 pairs
    review = Review(engine)
    assert review.next_pair("Ada", parse_source(f"run:{run}")).total == 3
    for reviewer in ("Ada", "Bo"):
        while (queue := review.next_pair(reviewer, parse_source(f"run:{run}"))).pair is not None:
            review.vote(queue.pair.pair, reviewer=reviewer, better="left")
    outside = review.next_pair("Bo")
    assert outside.pair is not None and outside.total == 15
    review.vote(outside.pair.pair, reviewer="Bo", better="tie")
    assert review.leaderboard(resamples=50).judgements == 7
    assert review.leaderboard(filters=Filters(run_id=run), resamples=50).judgements == 6
    assert review.leaderboard(filters=Filters(run_id=run, reviewer="Ada"), resamples=50).judgements == 3
    choices = review.filter_choices()
    assert (choices.reviewers, choices.question_sets) == (["Ada", "Bo"], ["default"])
    assert choices.runs == [(run, f"run {run} · review-me")]


def test_leaderboard_agreement_and_exports_from_votes(engine: Engine) -> None:
    save_conversation(engine, prompts=[f"prompt {i}" for i in range(4)])  # 12 pairs
    review = Review(engine)
    # Ada and Bo prefer the reply with the lower id, i.e. the lane listed first (rogue-ai > assistant > chat), and
    # say it stays in character; Cy calls every pair a tie.
    for reviewer in ("Ada", "Bo", "Cy"):
        while (queue := review.next_pair(reviewer)).pair is not None:
            left, _ = shown_order(queue.pair.pair, reviewer)
            better = "left" if left == min(parse_pair(queue.pair.pair)) else "right"
            if reviewer == "Cy":
                review.vote(queue.pair.pair, reviewer=reviewer, better="tie")
            else:
                review.vote(queue.pair.pair, reviewer=reviewer, better=better, answers={"in_character": better})
    board = review.leaderboard("lane", resamples=200)
    assert [e.name for e in board.entries] == ["base@rogue-ai", "base@assistant", "chat@assistant"]
    assert board.judgements == 36 and board.agreement.method == "fleiss" and board.agreement.reviewers == 3
    assert board.entries[0].questions["in_character"].rate == pytest.approx(16 / 16)
    assert board.entries[2].questions["in_character"].rate == pytest.approx(0 / 16)
    assert (board.entries[0].wins, board.entries[0].ties, board.entries[0].losses) == (16, 8, 0)
    assert 0.0 <= board.position_bias.left_wins.low <= board.position_bias.left_wins.high <= 1.0
    by_mask = review.leaderboard("mask", resamples=200)
    assert {e.name for e in by_mask.entries} == {"rogue-ai", "assistant"}
    dpo = [json.loads(line) for line in review.export("dpo").splitlines()]
    assert len(dpo) == 24 and all(line["agreement"] == 2 and line["votes"] == 3 for line in dpo)
    rows = {int(r["id"]): r for r in csv.DictReader(io.StringIO(review.export("csv")))}
    assert len(rows) == 36
    texts = {r[f"{side}_message_id"]: r[f"{side}_text"] for r in rows.values() for side in ("left", "right")}
    for line in dpo:
        assert line["chosen_message_id"] < line["rejected_message_id"]  # the lower id won every vote
        assert texts[str(line["chosen_message_id"])] == line["chosen"]
        assert texts[str(line["rejected_message_id"])] == line["rejected"]
        assert line["prompt"].startswith("prompt ") and line["chosen"] != line["rejected"]
    for fmt in ("md", "csv", "json"):
        assert "base@rogue-ai" in review.export_leaderboard(board, fmt)
    with pytest.raises(ServiceError):
        review.leaderboard("planet")
