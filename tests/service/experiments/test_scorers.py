"""Each sampled scorer on constructed replies."""

from __future__ import annotations

from personas.suites import EndedByScorer, MetricScorer, TextScorer, load_suite, parse_suite_toml
from ui.service.experiments.scorers import ended_by_score, metric_score, score_reply, text_score


def regex(pattern: str, **options: bool) -> TextScorer:
    return TextScorer(name="s", kind="regex", pattern=pattern, **options)


def contains(*text: str, **options: bool) -> TextScorer:
    return TextScorer(name="s", kind="contains", text=list(text), **options)


def test_regex_with_case_and_first_line() -> None:
    assert text_score(regex(r"\?"), "Paris. What is the capital of Spain?")
    assert not text_score(regex(r"\?"), "Paris.")
    assert text_score(regex("paris"), "PARIS")
    assert not text_score(regex("paris", case_sensitive=True), "PARIS")
    assert not text_score(regex(r"\?", first_line=True), "\n  Paris.\nAnd Spain?")
    assert text_score(regex(r"^\W*no\b", first_line=True), "\n No, never.\nyes")


def test_contains_any_of_its_strings() -> None:
    assert text_score(contains("Paris", "París"), "It is paris.")
    assert not text_score(contains("Paris", case_sensitive=True), "It is paris.")
    assert not text_score(contains("Paris", first_line=True), "Hmm.\nParis")
    assert not text_score(contains("Lyon"), "Paris")


def test_ended_by_reads_the_stored_metric_or_the_finish_reason() -> None:
    scorer = EndedByScorer(name="s", kind="ended_by", ended=["user_turn"])
    assert ended_by_score(scorer, {"ended_by": "user_turn"}, "stop") is True
    assert ended_by_score(scorer, {"ended_by": "length"}, "length") is False
    limit = EndedByScorer(name="s", kind="ended_by", ended=["length"])
    assert ended_by_score(limit, None, "length") is True  # a chat reply: no metrics
    assert ended_by_score(limit, None, None) is None


def test_metric_scorers_read_stored_metrics_and_skip_chat_replies() -> None:
    metrics = {"in_character_p": 0.9, "perplexity": 3.5, "mask_effect": 1.25, "ended_by": "natural"}
    assert metric_score(MetricScorer(name="s", kind="in_character"), metrics) == 0.9
    assert metric_score(MetricScorer(name="s", kind="perplexity"), metrics) == 3.5
    assert metric_score(MetricScorer(name="s", kind="mask_effect"), metrics) == 1.25
    assert metric_score(MetricScorer(name="s", kind="mask_effect"), None) is None
    surprise = {"mean_entropy": 2.5, "max_surprisal": 7.25, "entropy_bound": False}
    assert metric_score(MetricScorer(name="s", kind="mean_entropy"), surprise) == 2.5
    assert metric_score(MetricScorer(name="s", kind="max_surprisal"), surprise) == 7.25
    assert metric_score(MetricScorer(name="s", kind="mean_entropy"), metrics) is None  # a reply saved before them


def test_score_reply_scores_only_sampled_scorers() -> None:
    suite = parse_suite_toml(
        """
name = "t"
lanes = ["base"]
[[prompts]]
text = "q"
[[scorers]]
name = "asks"
kind = "regex"
pattern = '\\?'
[[scorers]]
name = "next"
kind = "next_token"
continuations = [" a"]
[[scorers]]
name = "ic"
kind = "in_character"
""",
        "t.toml",
    )
    assert score_reply(suite, "Why?", {"in_character_p": 0.5, "ended_by": "natural"}, "stop") == {
        "asks": True,
        "ic": 0.5,
    }


def test_capital_quiz_counts_more_quiz_in_either_form_and_not_an_answer_alone() -> None:
    suite = load_suite("capital-quiz")

    def more_quiz(reply: str) -> bool:
        return score_reply(suite, reply, None, "stop")["continues_quiz"] is True

    # What gemma-3-270m wrote after the bare question (issue 17, and seeds 1001 and 1008): options to choose from.
    assert more_quiz("A. Paris\nB. Bordeaux\nC. Monaco\nD. Versailles\nAnswer:")
    assert more_quiz("1) France\n2) Monaco\n3) Spain\n4) Germany\n5) Italy\nA\n1.\n1.\n2.\n2")
    assert more_quiz("\n\n(a) Paris\n(b) Lyon\n") and more_quiz(" What is the capital of Spain?")
    assert not more_quiz(" Paris.") and not more_quiz("The capital of France is Paris.\nA. It is in the north.")
