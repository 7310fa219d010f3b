# `simulacra review ...` as a user runs it: a pair shown without identities, a vote saved in the order shown and
# then revealed, the leaderboard and exports, and every bad input refused with one error line and nothing saved.

from __future__ import annotations

import json
from pathlib import Path

from tests.support.cli_runs import Run, read_db, refused
from tests.support.review import THREE_LANES, save_conversation
from ui.service.workspace import open_database

IDENTITIES = {word for lane in THREE_LANES for word in lane if word}


def seeded(home: Path) -> list[int]:
    engine = open_database(f"sqlite:///{home / 'data' / 'simulacra.db'}")
    try:
        _, [replies] = save_conversation(engine)
    finally:
        engine.dispose()
    return replies


def judgements(home: Path) -> list[tuple[int, int, str, str, str]]:
    return read_db(home, "SELECT left_message_id, right_message_id, better, answers, reviewer FROM judgement")  # type: ignore[return-value]


def test_nothing_to_review_is_said_plainly_and_exits_0(cli: Run, tmp_path: Path) -> None:
    result = cli(tmp_path, "review", "next", SIMULACRA_REVIEWER="Ada")
    assert result.returncode == 0, result.stderr
    assert "nothing left to review" in result.stdout
    result = cli(tmp_path, "review", "next", "--reviewer", "Ada", "--json")
    assert result.returncode == 0 and json.loads(result.stdout)["message"] == "nothing left to review"
    assert "a reviewer name" in refused(cli(tmp_path, "review", "next"))


def test_a_pair_is_shown_blind_voted_on_in_its_order_and_then_revealed(cli: Run, tmp_path: Path) -> None:
    replies = seeded(tmp_path)
    shown = cli(tmp_path, "--reviewer", "Ada", "review", "next", "--json")
    assert shown.returncode == 0, shown.stderr
    assert not [word for word in IDENTITIES if word in shown.stdout]
    queue = json.loads(shown.stdout)
    pair = queue["pair"]
    assert (queue["done"], queue["total"]) == (0, 3) and pair["prompt"] == "Who are you?"
    voted = cli(tmp_path, "review", "vote", pair["pair"], "--better", "left", "--answer", "in_character=left",
                "--answer", "speaks_for_user=neither", "--note", "close", "--reviewer", "Ada", "--json")  # fmt: skip
    assert voted.returncode == 0, voted.stderr
    revealed = json.loads(voted.stdout)
    assert revealed["left"]["label"] in {lane[0] for lane in THREE_LANES}
    [(left, right, better, answers, reviewer)] = judgements(tmp_path)
    assert (left, right) == (revealed["left"]["message_id"], revealed["right"]["message_id"])
    assert {left, right} <= set(replies) and better == "left" and reviewer == "Ada"
    assert json.loads(answers) == {"in_character": "left", "speaks_for_user": "neither"}
    [(left_text,)] = read_db(tmp_path, f"SELECT content FROM message WHERE id = {left}")
    assert left_text == pair["left"]
    text = cli(tmp_path, "review", "next", SIMULACRA_REVIEWER="Ada")
    assert text.returncode == 0 and "(2 of 3)" in text.stdout and "--- left ---" in text.stdout
    assert "already judged" in refused(cli(tmp_path, "review", "vote", pair["pair"], "--better", "tie",
                                           SIMULACRA_REVIEWER="Ada"))  # fmt: skip
    board = cli(tmp_path, "review", "leaderboard", "--json", "--resamples", "100")
    assert board.returncode == 0, board.stderr
    assert json.loads(board.stdout)["judgements"] == 1
    dpo = cli(tmp_path, "review", "export", "--format", "dpo")
    [line] = [json.loads(x) for x in dpo.stdout.splitlines()]
    assert line["chosen_message_id"] == left and line["chosen"] == left_text and line["reviewer"] == "Ada"


def test_bad_input_is_one_error_line_and_saves_nothing(cli: Run, tmp_path: Path) -> None:
    a, b, _ = seeded(tmp_path)
    cases = [
        (("review", "vote", "998-999", "--better", "left"), "there is no pair 998-999"),
        (("review", "vote", f"{a}-{b}", "--better", "left", "--answer", "funny=left"), "no question 'funny'"),
        (("review", "vote", f"{a}-{b}", "--better", "left", "--answer", "funny"), "expected KEY=left"),
        (("review", "next", "--source", "planet:mars"), "expected conversation:ID"),
    ]
    for args, message in cases:
        assert message in refused(cli(tmp_path, *args, SIMULACRA_REVIEWER="Ada"))
    bad_set = tmp_path / "set.toml"
    bad_set.write_text('name = "mine"\nweight = 3\n[[questions]]\nkey = "x"\ntext = "X?"\n', encoding="utf-8")
    assert "weight: unknown key" in refused(cli(tmp_path, "review", "questions", "--import", str(bad_set)))
    assert judgements(tmp_path) == [] and not (tmp_path / "data" / "questions").exists()
