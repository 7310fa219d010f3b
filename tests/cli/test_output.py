# What the commands print and write, when the data is hostile or the output cannot take it (issue 18): an
# imported title or reply carrying terminal escapes prints without them, a full stdout is one line and exit 2,
# and --out never replaces an existing file without --force. Saved replies come from the storage layer as a
# turn saves them, without running a model.

from __future__ import annotations

from pathlib import Path

import pytest
from sqlmodel import Session

from storage import repo
from tests.support.cli_runs import Run, refused
from tests.support.processes import one_error_line
from tests.support.review import save_conversation
from ui.service.workspace import open_database

# Sets the window title to X and clears the screen; 0x9b is a one-byte CSI on some terminals.
ESCAPES = "\x1b]0;X\x07\x1b[2J"
HOSTILE = f"{ESCAPES}walrus\x9b31m\r\x08\x7f ahoy"
CONTROL = {*map(chr, range(0x20)), *map(chr, range(0x7F, 0xA0))} - {"\n", "\t"}


def hostile_conversation(home: Path) -> int:
    """A conversation titled HOSTILE whose prompt and replies carry HOSTILE too; returns its id."""
    engine = open_database(f"sqlite:///{home / 'data' / 'simulacra.db'}")
    try:
        conversation_id, _ = save_conversation(engine, prompts=(f"Who are you? {HOSTILE}",))
        with Session(engine) as session:
            repo.set_title(session=session, conversation_id=conversation_id, title=HOSTILE)
    finally:
        engine.dispose()
    return conversation_id


@pytest.mark.parametrize(
    "args",
    [("list",), ("search", "ahoy"), ("export", "{id}", "--format", "md"), ("review", "next", "--reviewer", "Ada")],
    ids=lambda args: " ".join(args[:2]),
)
def test_titles_and_texts_print_without_their_control_characters(cli: Run, tmp_path: Path, args: tuple) -> None:
    conversation_id = hostile_conversation(tmp_path)

    result = cli(tmp_path, *(a.format(id=conversation_id) for a in args))

    assert result.returncode == 0, result.stderr
    assert "walrus" in result.stdout and "31m" in result.stdout  # the text is shown, only its escapes dropped
    assert not CONTROL & set(result.stdout), repr(result.stdout)


def test_json_output_keeps_the_text_escaped_not_raw(cli: Run, tmp_path: Path) -> None:
    hostile_conversation(tmp_path)

    result = cli(tmp_path, "list", "--json")

    assert result.returncode == 0, result.stderr
    assert not CONTROL & set(result.stdout)
    assert "\\u001b]0;X\\u0007\\u001b[2J" in result.stdout  # JSON escapes: the data survives, as text


@pytest.mark.parametrize("args", [("list",), ("export", "{id}", "--format", "md")], ids=["list", "export"])
def test_a_full_stdout_is_one_line_and_exit_2(cli_process: Run, tmp_path: Path, args: tuple) -> None:
    conversation_id = hostile_conversation(tmp_path)

    result = cli_process(tmp_path, *(a.format(id=conversation_id) for a in args), stdout=Path("/dev/full"))

    line = refused(result)
    assert line == "error: cannot write the output to stdout: No space left on device"


@pytest.mark.parametrize(
    "args",
    [("export", "{id}", "--format", "md"), ("masks", "export", "assistant", "--format", "toml")],
    ids=["export", "masks export"],
)
def test_out_refuses_an_existing_file_unless_forced(cli: Run, tmp_path: Path, args: tuple) -> None:
    conversation_id = hostile_conversation(tmp_path)
    out = tmp_path / "precious.txt"
    out.write_text("keep me")
    command = [a.format(id=conversation_id) for a in args] + ["--out", str(out)]

    line = refused(cli(tmp_path, *command))

    assert line == f"error: {out} already exists; pass --force to replace it"
    assert out.read_text() == "keep me"
    forced = cli(tmp_path, *command, "--force")
    assert forced.returncode == 0, forced.stderr
    assert out.read_text() != "keep me"


def test_out_does_not_follow_a_link_planted_at_its_path(cli: Run, tmp_path: Path) -> None:
    conversation_id = hostile_conversation(tmp_path)
    target = tmp_path / "passwd"
    target.write_text("root:x:0:0")
    (tmp_path / "export.md").symlink_to(target)

    result = cli(tmp_path, "export", str(conversation_id), "--format", "md", "--out", str(tmp_path / "export.md"))

    assert "already exists" in one_error_line(result)
    assert target.read_text() == "root:x:0:0"
