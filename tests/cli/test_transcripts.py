# The transcript commands as a user runs them, on a conversation `ask` saved with the real bundled model:
# annotate a reply, find it with search, list it, export it in every format, and import the json export
# back as a new conversation that exports the same. Bad files and ids give one error line and change nothing.

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.support.processes import one_error_line
from ui.service.transcripts.exports import NO_PAIRS

pytestmark = [pytest.mark.model, pytest.mark.slow]

Run = Callable[..., subprocess.CompletedProcess[str]]
VOLATILE = {"id", "conversation_id", "lane_id", "parent_id", "message_id", "diverged_from_id"}


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("transcripts")


@pytest.fixture(scope="module")
def asked(cli: Run, home: Path) -> dict[str, Any]:
    result = cli(
        home,
        "ask",
        "Where does the walrus sleep?",
        "--lane",
        "base@assistant",
        "--lane",
        "base@raw",
        "--temperature",
        "0",
        "--seed",
        "1",
        "--max-tokens",
        "12",
        "--json",
    )
    assert result.returncode == 0, result.stderr
    output: dict[str, Any] = json.loads(result.stdout)
    return output


def without_ids(value: Any) -> Any:
    """An export with ids left out: export -> import -> export must differ only in those."""
    if isinstance(value, dict):
        return {k: without_ids(v) for k, v in value.items() if k not in VOLATILE}
    if isinstance(value, list):
        return [without_ids(v) for v in value]
    return value


def test_annotate_then_search_finds_the_note_and_the_tag(cli: Run, home: Path, asked: dict[str, Any]) -> None:
    reply = asked["lanes"][0]["message_id"]
    done = cli(home, "annotate", str(reply), "--tag", "in-character", "--rating", "1", "--note", "sleepy pinniped")
    assert done.returncode == 0 and f"on message {reply}" in done.stdout, done.stderr
    [hit] = json.loads(cli(home, "search", "pinniped", "--json").stdout)
    assert hit["conversation_id"] == asked["conversation_id"] and hit["annotation_count"] == 1
    assert [
        h["conversation_id"]
        for h in json.loads(cli(home, "search", "walrus", "--tag", "in-character", "--json").stdout)
    ] == [asked["conversation_id"]]
    assert json.loads(cli(home, "search", "walrus", "--tag", "refused", "--json").stdout) == []
    listed = json.loads(cli(home, "list", "--json").stdout)
    assert [c["id"] for c in listed] == [asked["conversation_id"]]


def test_every_format_exports_and_json_imports_losslessly(cli: Run, home: Path, asked: dict[str, Any]) -> None:
    cid = str(asked["conversation_id"])
    files = {fmt: home / f"out.{fmt}" for fmt in ("md", "json", "jsonl")}
    for fmt, path in files.items():
        result = cli(home, "export", cid, "--format", fmt, "--out", str(path))
        assert result.returncode == 0, result.stderr
    assert "Where does the walrus sleep?" in files["md"].read_text()
    assert all(set(json.loads(line)) == {"messages"} for line in files["jsonl"].read_text().splitlines())
    # One rated reply makes no preference pair: the command says so rather than writing an empty file.
    dpo = cli(home, "export", cid, "--format", "dpo", "--out", str(home / "out.dpo"))
    assert dpo.returncode == 1 and one_error_line(dpo) == f"error: {NO_PAIRS}"
    assert not (home / "out.dpo").exists()
    exported = json.loads(files["json"].read_text())
    assert {m["role"] for m in exported["messages"]} == {"user", "model"}

    imported = cli(home, "import", str(files["json"]))
    assert imported.returncode == 0, imported.stderr
    new_id = imported.stdout.split()[-1]
    assert new_id != cid
    again = json.loads(cli(home, "export", new_id, "--format", "json").stdout)
    assert without_ids(again) == without_ids(exported)
    everything = json.loads(cli(home, "export", "--all", "--format", "json").stdout)
    assert sorted(c["conversation"]["id"] for c in everything) == sorted([int(cid), int(new_id)])


@pytest.mark.parametrize(
    ("content", "problem"),
    [("{not json", "JSON"), ('{"format": "simulacra.conversation", "version": 99}', "version")],
)
def test_a_bad_import_is_one_error_and_saves_nothing(
    cli: Run, home: Path, asked: dict[str, Any], content: str, problem: str
) -> None:
    before = json.loads(cli(home, "list", "--json").stdout)
    bad = home / "bad.json"
    bad.write_text(content)
    result = cli(home, "import", str(bad))
    assert result.returncode == 2 and problem in one_error_line(result), result.stderr
    assert json.loads(cli(home, "list", "--json").stdout) == before


def test_annotating_a_missing_message_is_one_error(cli: Run, home: Path, asked: dict[str, Any]) -> None:
    result = cli(home, "annotate", "99999", "--tag", "x")
    assert result.returncode == 2 and "99999" in one_error_line(result)


@pytest.mark.parametrize("rating", ["3", "-2", "5"])
def test_a_rating_other_than_minus_one_zero_or_plus_one_is_refused(
    cli: Run, home: Path, asked: dict[str, Any], rating: str
) -> None:
    conversation = str(asked["conversation_id"])
    before = json.loads(cli(home, "export", conversation).stdout)["annotations"]
    result = cli(home, "annotate", str(asked["lanes"][0]["message_id"]), "--rating", rating, "--note", "saved?")
    assert result.returncode == 2 and f"--rating is -1, 0 or +1, not {rating}" in one_error_line(result)
    assert json.loads(cli(home, "export", conversation).stdout)["annotations"] == before
