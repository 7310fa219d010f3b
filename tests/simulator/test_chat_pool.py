# Issue 17: every chat request that overlapped another loaded a copy of the bundled chat model (about 160 MB
# each) and kept it for good, so an experiment drawing four chat samples at once left four loaded. Replies drawn
# at once still all finish, with at most MAX_LIVE copies loaded while they stream and KEEP_IDLE once they end.

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from simulator.bundled import smollm2_chat_path
from simulator.chat import LocalChatModels
from simulator.chat_pool import KEEP_IDLE, MAX_LIVE
from simulator.worker import LocalWorker
from tests.support.memory import loaded_chat_copies

pytestmark = pytest.mark.model

NAME = "smollm2"
QUESTION = [{"role": "user", "content": "What is the capital of France?"}]


@pytest.fixture
def models() -> Iterator[LocalChatModels]:
    chat = LocalChatModels(LocalWorker(), n_ctx=512, n_threads=1)  # one thread, as the tests' registry
    chat.add(NAME, smollm2_chat_path())
    yield chat
    chat.copies.close()


def test_replies_drawn_at_once_keep_a_bounded_number_of_copies_loaded(models: LocalChatModels) -> None:
    before = loaded_chat_copies()
    seen: list[int] = []

    def reply(seed: int) -> tuple[str, str | None]:
        text, reason = "", None
        for piece, finish in models.stream(NAME, QUESTION, {"seed": seed, "temperature": 1.0, "max_tokens": 12}):
            if not text:  # while this reply streams; once per reply, as a count walks every object in the process
                seen.append(loaded_chat_copies() - before)
            text, reason = text + piece, finish or reason
        return text, reason

    with ThreadPoolExecutor(4) as pool:  # an experiment's chunk: four samples of one chat lane
        replies = list(pool.map(reply, [1, 2, 3, 4]))

    assert all(text.strip() and reason in ("stop", "length") for text, reason in replies), replies
    assert 1 <= max(seen) <= MAX_LIVE
    assert loaded_chat_copies() - before == KEEP_IDLE

    # A reply whose reader goes away gives its copy back too: the next reply finds it, and nothing more is loaded.
    dropped = models.stream(NAME, QUESTION, {"seed": 5, "max_tokens": 12})
    next(dropped)
    dropped.close()
    assert reply(6)[0].strip()
    assert loaded_chat_copies() - before == KEEP_IDLE
