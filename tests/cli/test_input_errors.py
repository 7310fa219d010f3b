# What the command line hands in that cannot be used (arguments that are not UTF-8, an empty prompt, a prompt
# file or stdin that cannot be read, an output folder that is not there) is one `error:` line, exit code 2,
# and nothing written; and a prompt too long for an argument comes in on stdin or from a file.

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from simulator.registry import Registry
from tests.support.cli_runs import counts, refused, run_piped, seed
from tests.support.processes import one_error_line
from ui.service.transcripts.exports import NO_RATINGS

Run = Callable[..., subprocess.CompletedProcess[str]]
NOTHING = (0, 0, 0, 0)


@pytest.fixture
def seeded(tmp_path: Path, registry: Registry) -> tuple[Path, int]:
    """A home with one conversation, and the id of its user message."""
    return tmp_path, seed(tmp_path, registry)


@pytest.mark.parametrize(
    "args",
    [
        ["ask", "\udcff", "--lane", "base@raw"],
        ["ask", "caf\udce9?", "--lane", "base@raw"],
        ["annotate", "{message}", "--note", "\udcff"],
        ["annotate", "{message}", "--tag", "fine", "--tag", "\udcff"],
        ["search", "\udcff"],
        ["masks", "render", "assistant", "--user", "\udcff"],
    ],
)
def test_an_argument_that_is_not_utf8_is_refused_before_anything_is_written(
    cli: Run, seeded: tuple[Path, int], args: list[str]
) -> None:
    # Python hands a byte that is not UTF-8 (0xff, 0xe9) to a program as a lone surrogate, and subprocess
    # writes a lone surrogate back as that byte: the command receives exactly what a shell would pass.
    home, message = seeded
    before = counts(home)

    result = cli(home, *(a.replace("{message}", str(message)) for a in args))

    assert "not valid UTF-8" in refused(result)
    assert counts(home) == before


def test_a_path_that_is_not_utf8_is_still_a_path(cli: Run, tmp_path: Path) -> None:
    # File names are bytes on Linux: an argument that names a file is passed on as it is, not refused.
    line = refused(cli(tmp_path, "import", str(tmp_path / "caf\udce9.json")))

    assert "not valid UTF-8" not in line


def test_export_to_a_missing_folder_names_the_folder(cli: Run, seeded: tuple[Path, int], tmp_path: Path) -> None:
    home, _ = seeded
    out = tmp_path / "missing-dir" / "x.json"

    line = refused(cli(home, "export", "1", "--out", str(out)))

    assert f"the folder {out.parent} does not exist" in line
    assert not out.parent.exists()


@pytest.mark.parametrize("out", [None, "pairs.jsonl"])
def test_a_dpo_export_with_no_rated_reply_says_why_instead_of_an_empty_file(
    cli: Run, seeded: tuple[Path, int], tmp_path: Path, out: str | None
) -> None:
    home, _ = seeded
    where = [] if out is None else ["--out", str(tmp_path / out)]

    result = cli(home, "export", "1", "--format", "dpo", *where)

    assert result.returncode == 1 and result.stdout == ""
    assert one_error_line(result) == f"error: {NO_RATINGS}"
    assert "no reply is rated" in NO_RATINGS
    assert not (tmp_path / "pairs.jsonl").exists()  # no empty file to puzzle over


@pytest.mark.parametrize("prompt", ["", "   ", "\n\t\n"])
def test_an_empty_prompt_is_refused(cli: Run, tmp_path: Path, prompt: str) -> None:
    assert "the prompt is empty" in refused(cli(tmp_path, "ask", prompt, "--lane", "base@raw"))
    assert counts(tmp_path) == NOTHING


def test_the_prompt_comes_from_exactly_one_place(cli: Run, tmp_path: Path) -> None:
    prompt = tmp_path / "prompt.txt"
    prompt.write_text("Hello?", encoding="utf-8")

    for args in (["ask"], ["ask", "Hello?", "--file", str(prompt)], ["ask", "-", "--file", str(prompt)]):
        assert "exactly one" in refused(cli(tmp_path, *args, "--lane", "base@raw")), args
    assert counts(tmp_path) == NOTHING


@pytest.mark.parametrize(
    ("content", "expected"),
    [(None, "No such file"), (b"caf\xe9", "not valid UTF-8"), (b" \n", "is empty"), ("folder", "Is a directory")],
    ids=["missing", "latin-1", "blank", "a folder"],
)
def test_a_prompt_file_that_cannot_be_used_is_one_clear_error(
    cli: Run, tmp_path: Path, content: bytes | str | None, expected: str
) -> None:
    prompt = tmp_path / "prompt.txt"
    if content == "folder":
        prompt.mkdir()
    elif isinstance(content, bytes):
        prompt.write_bytes(content)

    line = refused(cli(tmp_path, "ask", "--file", str(prompt), "--lane", "base@raw"))

    assert expected in line and str(prompt) in line
    assert counts(tmp_path) == NOTHING


@pytest.mark.parametrize(
    ("stdin", "expected"), [(b"", "is empty"), (b" \n ", "is empty"), (b"Hi \xff\xfe", "not valid UTF-8")]
)
def test_a_prompt_on_stdin_that_is_empty_or_not_utf8_is_refused(
    cli: Run, tmp_path: Path, stdin: bytes, expected: str
) -> None:
    line = refused(run_piped(cli, tmp_path, stdin, "ask", "-", "--lane", "base@raw"))

    assert expected in line and "stdin" in line
    assert counts(tmp_path) == NOTHING


@pytest.mark.model
@pytest.mark.slow
def test_the_prompt_can_come_from_stdin_or_a_file(cli: Run, tmp_path: Path) -> None:
    # Over the 128 KiB an argument may hold on Linux: the lane fails on the context, the message is saved whole.
    long_prompt = "Tell me about dragons. " * 6000 + "Ünïcödé ✓"
    prompt = tmp_path / "prompt.txt"
    prompt.write_text(long_prompt, encoding="utf-8")
    sampling = ["--lane", "base@raw", "--max-tokens", "2", "--temperature", "0", "--json"]

    from_stdin = run_piped(cli, tmp_path, "Hello from stdin ✓".encode(), "ask", "-", *sampling)
    from_file = cli(tmp_path, "ask", "--file", str(prompt), *sampling)

    assert from_stdin.returncode == 0, from_stdin.stderr
    assert "Traceback" not in from_file.stderr and "too long" in from_file.stdout
    ids = [json.loads(result.stdout)["conversation_id"] for result in (from_stdin, from_file)]
    saved = [cli(tmp_path, "export", str(i)).stdout for i in ids]
    user_messages = [[m["content"] for m in json.loads(text)["messages"] if m["role"] == "user"] for text in saved]
    assert user_messages == [["Hello from stdin ✓"], [long_prompt]]
