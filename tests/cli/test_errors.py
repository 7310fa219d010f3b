# Bad input on the command line gets one `error: ...` line that says what to fix, a non-zero exit and
# never a traceback; a prompt too long for the model fails its lane but the user's message is still saved.

from __future__ import annotations

import copy
import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session

from personas.catalog import load_mask
from simulator.values import SamplingSettings
from storage import repo
from storage.db import make_engine
from tests.support.processes import one_error_line

Run = Callable[..., subprocess.CompletedProcess[str]]


@pytest.mark.parametrize(
    ("lane", "named"),
    [
        ("base@pirate", "pirate"),  # unknown mask
        pytest.param("nosuchmodel", "nosuchmodel", marks=pytest.mark.slow),  # unknown model: imports litellm (~9 s)
        ("base@@x", "base@@x"),  # malformed
        ("@assistant", "@assistant"),  # no model
    ],
)
def test_a_bad_lane_is_one_clear_error_and_nothing_is_saved(cli: Run, tmp_path: Path, lane: str, named: str) -> None:
    result = cli(tmp_path, "ask", "Hello?", "--lane", "base@raw", "--lane", lane, "--max-tokens", "4")

    assert named in one_error_line(result)
    assert result.stdout == ""
    database = tmp_path / "data" / "simulacra.db"
    if database.exists():
        assert json.loads(cli(tmp_path, "list", "--json").stdout) == []


def test_a_data_folder_that_cannot_be_created_is_one_clear_error(cli: Run, tmp_path: Path) -> None:
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")

    result = cli(tmp_path, "list", SIMULACRA_DATA_DIR=str(blocked))

    assert "cannot open the database" in one_error_line(result)


def test_an_unknown_conversation_is_one_clear_error(cli: Run, tmp_path: Path) -> None:
    assert "42" in one_error_line(cli(tmp_path, "export", "42"))


@pytest.mark.model
@pytest.mark.slow
def test_a_prompt_longer_than_the_context_fails_the_lanes_and_keeps_the_message(cli: Run, tmp_path: Path) -> None:
    prompt = " ".join(f"dragon{i % 10}" for i in range(2000))

    result = cli(tmp_path, "ask", prompt, "--lane", "base@raw", "--lane", "chat", "--json", SIMULACRA_N_CTX="256")

    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    output = json.loads(result.stdout)
    for lane in output["lanes"]:
        assert lane["status"] == "error" and "too long" in lane["error"], lane["error"]
    exported = json.loads(cli(tmp_path, "export", str(output["conversation_id"])).stdout)
    assert [m["content"] for m in exported["messages"] if m["role"] == "user"] == [prompt]
    replies = [m for m in exported["messages"] if m["role"] == "model"]
    assert [m["status"] for m in replies] == ["error", "error"]
    assert all("too long" in m["error"] for m in replies)


# -- conversation files that would import and fail later, or end in a traceback ----------------------------


def _export(folder: Path) -> dict[str, Any]:
    """A conversation exported as the app writes one: a masked base lane with tokens, and a chat lane."""
    engine = make_engine(f"sqlite:///{folder / 'source.db'}")
    settings = SamplingSettings(temperature=0.0, max_tokens=16, seed=1)
    with Session(engine) as s:
        cid = repo.create_conversation(session=s, title="To import").id
        assert cid is not None
        lanes = [
            repo.add_lane(
                session=s,
                conversation_id=cid,
                position=i,
                label=model,
                kind=kind,
                model=model,
                mask_name=mask,
                mask_snapshot=None if mask is None else load_mask(mask).model_dump(),
                system_prompt=None,
                settings=settings,
            ).id
            for i, (model, kind, mask) in enumerate([("base", "simulator", "assistant"), ("chat", "chat", None)])
        ]
        user = repo.add_user_message(session=s, conversation_id=cid, parent_id=None, content="Hello?").id
        for lane in lanes:
            assert lane is not None
            reply = repo.start_reply(
                session=s, conversation_id=cid, lane_id=lane, parent_id=user, prompt="Hello?", settings=settings
            )
            assert reply.id is not None
            repo.finish_reply(
                session=s,
                message_id=reply.id,
                content="Hi",
                tokens=[["Hi", 0.9, [["Hey", 0.1]]]],
                status="complete",
                finish_reason="stop",
                error=None,
                ttft_ms=1.0,
                total_ms=2.0,
                tokens_per_s=40.0,
                seed=1,
            )
        exported = repo.export_conversation(session=s, conversation_id=cid)
    engine.dispose()
    return exported


def _changed(path: str, value: Any) -> Callable[[dict[str, Any]], str]:
    def change(exported: dict[str, Any]) -> str:
        data = copy.deepcopy(exported)
        *keys, last = path.split(".")
        target: Any = data
        for key in keys:
            target = target[int(key)] if key.isdigit() else target[key]
        target[last] = value
        return json.dumps(data)

    return change


BAD_FILES: list[tuple[str, Callable[[dict[str, Any]], str], str]] = [
    ("hot lane", _changed("lanes.0.temperature", 50), "lanes[0] (id 1).temperature: Input should be less than"),
    ("long lane", _changed("lanes.1.max_tokens", 10_000_000), "lanes[1] (id 2).max_tokens: Input should be less"),
    ("odd mask", _changed("lanes.0.mask_snapshot", {"foo": 1}), "lanes[0] (id 1).mask_snapshot.name: Field required"),
    ("tokens", _changed("messages.1.tokens", [5, [], "x"]), "messages[1] (id 2).tokens[0]: A token is [text] or"),
    ("seed 2**70", _changed("lanes.0.seed", 2**70), "lanes[0] (id 1).seed: Input should be less than or equal to"),
    ("reply settings", _changed("messages.2.settings", {"temperature": 50}), "(id 3).settings.temperature: Input"),
    ("lone surrogate", _changed("messages.0.content", "\ud800"), "(id 1).content: text holds \\ud800"),
    ("a million [", lambda _: "[" * 1_000_000, "nests objects and lists more than 64 levels deep"),
    ("5000 deep object", lambda _: '{"a": ' * 5000 + "1" + "}" * 5000, "more than 64 levels deep"),
]
TABLES = ("conversation", "lane", "message", "annotation")


@pytest.fixture(scope="module")
def imported_once(cli: Run, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """A data folder holding one imported conversation, and the export it came from."""
    home = tmp_path_factory.mktemp("imports")
    exported = _export(home)
    good = home / "good.json"
    good.write_text(json.dumps(exported))
    result = cli(home, "import", str(good))
    assert result.returncode == 0, result.stderr
    return home, exported


def _counts(db_rows: Callable[[Path, str], list[tuple[Any, ...]]], home: Path) -> list[int]:
    return [db_rows(home, f"SELECT count(*) FROM {table}")[0][0] for table in TABLES]


@pytest.mark.parametrize(("content", "problem"), [case[1:] for case in BAD_FILES], ids=[case[0] for case in BAD_FILES])
def test_a_conversation_file_that_would_fail_later_is_one_error_and_writes_nothing(
    cli: Run,
    db_rows: Callable[[Path, str], list[tuple[Any, ...]]],
    imported_once: tuple[Path, dict[str, Any]],
    content: Callable[[dict[str, Any]], str],
    problem: str,
) -> None:
    home, exported = imported_once
    before = _counts(db_rows, home)
    bad = home / "bad.json"
    bad.write_text(content(exported), encoding="utf-8")

    result = cli(home, "import", str(bad))

    assert result.returncode == 2
    line = one_error_line(result)
    assert line.startswith(f"error: {bad}") and problem in line, line
    assert _counts(db_rows, home) == before


def test_a_conversation_file_over_the_limit_is_refused_unread(
    cli: Run, db_rows: Callable[[Path, str], list[tuple[Any, ...]]], imported_once: tuple[Path, dict[str, Any]]
) -> None:
    home, _ = imported_once
    before = _counts(db_rows, home)
    huge = home / "huge.json"
    with huge.open("wb") as f:
        f.truncate(200 * 1024 * 1024 + 1)  # sparse: no disk used; the 200 MB the limit used to be

    result = cli(home, "import", str(huge))

    assert result.returncode == 2
    assert one_error_line(result) == f"error: {huge} is 200 MB; imports are limited to 32 MB"
    assert _counts(db_rows, home) == before
