# Importing on the Transcripts page: an exported file opens as a new conversation, and a broken or hostile file
# (truncated, wrong version, out-of-range settings, deep nesting, over the size limit) shows one error and imports
# nothing. The conversations are written the way a finished turn writes them. Showing the imported conversation
# asks for the model registry, whose first use loads the bundled models in a background thread
# (ui/web/resources.py): that test is marked `model`.

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from sqlmodel import Session
from streamlit.testing.v1 import AppTest
from streamlit.testing.v1.element_tree import Block

from storage import repo
from tests.support.screen import reply_text
from tests.support.transcripts import Seed, _plain, hits, transcripts


def _upload(at: AppTest, name: str, content: bytes) -> AppTest:
    at.sidebar.file_uploader[0].set_value((name, content, "application/json")).run()
    assert not at.exception
    return at


def _export_bytes(seed: Seed, conversation_id: int) -> bytes:
    with Session(seed.engine) as s:
        return json.dumps(repo.export_conversation(session=s, conversation_id=conversation_id)).encode()


@pytest.mark.model
def test_importing_a_file_opens_the_new_conversation(app: AppTest, seed: Seed) -> None:
    cid, _ = seed.conversation("Original", "Hi", ["Hello there"], models=("base",))
    exported = _export_bytes(seed, cid)
    at = _upload(transcripts(app), "original.json", exported)
    assert not at.error
    assert seed.conversations() == 2
    new_id = cid + 1
    assert at.text_input(key=f"tr-title-{new_id}").value == "Original"
    cell = at.main.get_by_key("tr-reply-0-0")
    assert isinstance(cell, Block) and reply_text(cell) == "Hello there"
    assert at.sidebar.file_uploader[0].value in (None, [])  # emptied: a rerun does not import it again
    at.run()
    assert seed.conversations() == 2


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (lambda good: good[: len(good) // 2], "is not valid JSON: .* the file ends early: is it truncated\\?"),
        (lambda good: good.replace(b'"version": 1', b'"version": 9'), "export version 9 is not supported"),
        (lambda good: good.replace(b'"role": "user"', b'"role": "narrator"'), "role: .*got 'narrator'"),
    ],
    ids=["truncated", "wrong version", "unknown role"],
)
def test_a_broken_file_shows_one_error_and_imports_nothing(
    app: AppTest, seed: Seed, content: Any, problem: str
) -> None:
    cid, _ = seed.conversation("Original", "Hi", ["Hello there"], models=("base",))
    at = _upload(transcripts(app), "broken.json", content(_export_bytes(seed, cid)))
    [error] = at.error
    message = _plain(error.value)
    assert message.startswith("Import failed: broken.json") and re.search(problem, message), message
    assert seed.conversations() == 1
    assert hits(at) == ["Original"]  # still the list: nothing was opened
    at.run()
    assert not at.error  # shown once, not on every rerun


def _with(path: str, value: Any) -> Any:
    def change(good: bytes) -> bytes:
        data = json.loads(good)
        *keys, last = path.split(".")
        target = data
        for key in keys:
            target = target[int(key)] if key.isdigit() else target[key]
        target[last] = value
        return json.dumps(data).encode()

    return change


def _padded_past(limit: int) -> Any:
    return lambda good: good + b" " * (limit + 1 - len(good))


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (_with("lanes.0.temperature", 50), r"lanes\[0\] \(id \d+\)\.temperature: .*less than or equal to 2"),
        (_with("lanes.0.max_tokens", 10_000_000), r"max_tokens: .*less than or equal to 4096"),
        (_with("lanes.0.mask_snapshot", {"foo": 1}), r"mask_snapshot\.name: Field required"),
        (_with("messages.1.tokens", [5, [], "x"]), r"messages\[1\] \(id \d+\)\.tokens\[0\]: A token is"),
        (_with("lanes.0.seed", 2**70), r"seed: Input should be less than or equal to 9223372036854775807"),
        (lambda good: b"[" * 1_000_000, "nests objects and lists more than 64 levels deep"),
        (lambda good: b'{"a": ' * 5000 + b"1" + b"}" * 5000, "nests objects and lists more than 64 levels deep"),
        (_padded_past(1024 * 1024), "is 1 MB; imports are limited to 1 MB"),
    ],
    ids=[
        "temperature 50",
        "max_tokens 1e7",
        "odd mask snapshot",
        "broken tokens",
        "seed 2**70",
        "a million [",
        "5000 deep object",
        "over the limit",
    ],
)
def test_a_file_that_would_fail_later_is_refused_with_one_error(
    app: AppTest, seed: Seed, monkeypatch: pytest.MonkeyPatch, content: Any, problem: str
) -> None:
    monkeypatch.setattr("storage.imports.MAX_IMPORT_BYTES", 1024 * 1024)  # the same check as the real limit, smaller
    cid, _ = seed.conversation("Original", "Hi", ["Hello there"], models=("base",))
    at = _upload(transcripts(app), "broken.json", content(_export_bytes(seed, cid)))
    [error] = at.error
    message = _plain(error.value)
    assert message.startswith("Import failed: broken.json") and re.search(problem, message), message
    assert seed.conversations() == 1
    assert hits(at) == ["Original"]
