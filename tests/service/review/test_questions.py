# Question sets: the built-in default, a user's own set, and a set with an unknown key refused with its name.

from __future__ import annotations

from pathlib import Path

import pytest

from personas.questions import (
    QuestionSetError,
    list_question_sets,
    load_question_set,
    parse_question_set,
    save_question_set,
)

MINE = """
name = "mine"
[[questions]]
key = "funny"
text = "Which is funnier?"
"""


def test_the_default_set_asks_the_three_questions_of_the_issue() -> None:
    default = load_question_set("default", None)
    assert [q.text for q in default.questions] == [
        "Which stays in character?",
        "Which claims to have feelings or experiences?",
        "Which speaks for the user?",
    ]
    assert default.check_answers({"in_character": "left", "feelings": "both"}) == {
        "in_character": "left",
        "feelings": "both",
    }


def test_answers_to_unknown_questions_or_with_unknown_values_are_refused() -> None:
    default = load_question_set("default", None)
    with pytest.raises(QuestionSetError, match="no question 'funny'.*in_character, feelings, speaks_for_user"):
        default.check_answers({"funny": "left"})
    with pytest.raises(QuestionSetError, match="'up' to 'feelings' is not one of left, right, both, neither"):
        default.check_answers({"feelings": "up"})


def test_a_users_set_is_saved_listed_and_loaded(tmp_path: Path) -> None:
    folder = tmp_path / "questions"
    saved = save_question_set(MINE, "mine.toml", folder)
    assert saved.keys() == ["funny"]
    assert [s.name for s in list_question_sets(folder)] == ["default", "mine"]
    assert load_question_set("mine", folder) == saved


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (MINE + 'colour = "red"\n', "colour: unknown key"),
        (MINE.replace('text = "Which is funnier?"', 'text = "x"\nweight = 2'), "questions.0.weight: unknown key"),
        (MINE + '[[questions]]\nkey = "funny"\ntext = "again"\n', "question key 'funny' is used twice"),
        (MINE.replace('"funny"', '"Funny!"'), "is not a question key"),
        ("name = [", "not valid TOML"),
    ],
)
def test_a_bad_set_is_refused_with_what_is_wrong_and_nothing_is_saved(tmp_path: Path, text: str, problem: str) -> None:
    folder = tmp_path / "questions"
    with pytest.raises(QuestionSetError, match=problem.replace("(", r"\(")):
        save_question_set(text, "bad.toml", folder)
    assert not folder.exists()


def test_a_set_may_not_take_a_built_in_name_and_unknown_sets_are_named(tmp_path: Path) -> None:
    with pytest.raises(QuestionSetError, match="built-in"):
        save_question_set(MINE.replace('"mine"', '"default"'), "x.toml", tmp_path)
    with pytest.raises(QuestionSetError, match="no question set 'nope'"):
        load_question_set("nope", tmp_path)
    assert parse_question_set('name = "empty"', "e.toml").questions == ()
