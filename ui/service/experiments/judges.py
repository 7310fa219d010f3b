"""The `judge` scorer: a chat model reads the prompt and one reply and answers the scorer's rubric, a yes/no
question. Its answer counts as yes, no, or unclear (None: left out of the rate), and the judge's model and
words are kept beside the score so anyone can read why a sample was counted."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from personas.suites import JudgeScorer, Suite
from simulator.errors import SimulacraError
from simulator.registry import Registry
from simulator.values import SamplingSettings, Token
from ui.service.errors import ServiceError

JUDGES_KEY = "_judges"  # in a sample's scores: scorer names cannot start with "_", so it never meets one

_INSTRUCTIONS = (
    "You grade one reply written by a language model. Read the prompt and the reply, then answer the question"
    " about the reply with one word: yes or no."
)
# Room for "Yes." or "No, because": the answer is the first word; more words are kept, not read.
_SETTINGS = SamplingSettings(temperature=0.0, max_tokens=8)
_FIRST_WORD = re.compile(r"[a-z]+")


@dataclass(frozen=True)
class Judged:
    """One judge's answer about one reply: yes (True), no (False) or unclear (None), and what it said."""

    answer: bool | None
    model: str
    reply: str
    error: str | None = None

    def record(self) -> dict[str, Any]:
        # Stored under "verdict" in every run's samples since judges came: kept, so old runs read the same.
        return {"model": self.model, "reply": self.reply, "verdict": self.answer, "error": self.error}


def judge_scorers(suite: Suite) -> list[JudgeScorer]:
    return [s for s in suite.scorers if isinstance(s, JudgeScorer)]


def read_answer(said: str) -> bool | None:
    """The judge's first word: yes or no, whatever the case and punctuation; anything else is unclear."""
    word = _FIRST_WORD.search(said.casefold())
    if word is None:
        return None
    return {"yes": True, "no": False}.get(word.group())


def judge_messages(scorer: JudgeScorer, prompt: str, reply: str) -> list[dict[str, str]]:
    question = f"The prompt:\n{prompt}\n\nThe reply:\n{reply}\n\nQuestion: {scorer.rubric}\nAnswer yes or no."
    return [{"role": "system", "content": _INSTRUCTIONS}, {"role": "user", "content": question}]


def check_judges(suite: Suite, registry: Registry) -> None:
    """Every judge model exists, is a chat model and has its API key, before a run that uses them is saved.

    Raises:
        ServiceError: a judge model is unknown, is a base model, or lacks its key.
    """
    for scorer in judge_scorers(suite):
        try:
            entry = registry.resolve(scorer.model)
            if entry.kind == "chat":
                registry.chat(entry).check()
        except SimulacraError as e:
            raise ServiceError(f"judge scorer {scorer.name!r}: {e}") from e
        if entry.kind != "chat":
            raise ServiceError(
                f"judge scorer {scorer.name!r}: {scorer.model} is a base model; a judge must be a chat model"
            )


def judge_reply(registry: Registry, scorer: JudgeScorer, prompt: str, reply: str, seed: int) -> Judged:
    """Ask the scorer's judge about one reply. A judge that fails (a server down, a key revoked mid-run) gives
    an unclear answer with its error, so the sample is still saved and a replay shows the difference."""
    settings = _SETTINGS.model_copy(update={"seed": seed})
    try:
        chat = registry.chat(registry.resolve(scorer.model))
        events = chat.stream(judge_messages(scorer, prompt, reply), settings)
        said = "".join(event.text for event in events if isinstance(event, Token))
    except SimulacraError as e:
        return Judged(answer=None, model=scorer.model, reply="", error=str(e))
    return Judged(answer=read_answer(said), model=scorer.model, reply=said)
