# The reviewer name on the command line (the group's --reviewer, annotate's own, SIMULACRA_REVIEWER) and the
# password rule of `simulacra ui`: beyond 127.0.0.1 only with SIMULACRA_PASSWORD, which reaches the app through
# its environment and never its command line.

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from simulator.registry import Registry
from tests.support.cli_runs import counts, refused, seed
from tests.support.processes import free_port, stop_process, wait_for_server

Run = Callable[..., subprocess.CompletedProcess[str]]
Rows = Callable[[Path, str], list[tuple[Any, ...]]]
PASSWORD = "correct horse battery staple"


def test_annotations_are_signed_by_the_option_the_group_or_the_setting(
    cli: Run, db_rows: Rows, tmp_path: Path, registry: Registry
) -> None:
    message_id = seed(tmp_path, registry)
    own = cli(tmp_path, "annotate", str(message_id), "--note", "a", "--reviewer", "  Ada ")
    assert own.returncode == 0 and own.stdout.strip().endswith(f"on message {message_id} by Ada"), own.stderr
    group = cli(tmp_path, "--reviewer", "Bo", "annotate", str(message_id), "--tag", "b")
    assert group.returncode == 0 and group.stdout.strip().endswith("by Bo"), group.stderr
    both = cli(tmp_path, "--reviewer", "Bo", "annotate", str(message_id), "--rating", "1", "--reviewer", "Cy")
    assert both.returncode == 0 and both.stdout.strip().endswith("by Cy"), both.stderr  # the command's own wins
    setting = cli(tmp_path, "annotate", str(message_id), "--note", "d", SIMULACRA_REVIEWER="Dee")
    assert setting.returncode == 0 and setting.stdout.strip().endswith("by Dee"), setting.stderr
    unsigned = cli(tmp_path, "annotate", str(message_id), "--note", "e")
    assert unsigned.returncode == 0 and " by " not in unsigned.stdout, unsigned.stderr
    rows = db_rows(tmp_path, "SELECT reviewer FROM annotation ORDER BY id")
    assert rows == [("Ada",), ("Bo",), ("Cy",), ("Dee",), (None,)]
    markdown = cli(tmp_path, "export", "1", "--format", "md")
    assert "> **Annotation** by Ada" in markdown.stdout and "> **Annotation** by Dee" in markdown.stdout


@pytest.mark.parametrize(
    ("args", "env", "expected"),
    [
        (("--reviewer", ""), {}, "error: --reviewer: the reviewer name is empty"),
        (("--reviewer", "x" * 65), {}, "error: --reviewer: the reviewer name has 65 characters; at most 64"),
        (("--reviewer", "Ada\x07"), {}, "error: --reviewer: the reviewer name contains a control character (U+0007)"),
        ((), {"SIMULACRA_REVIEWER": "  "}, "reviewer: the reviewer name is empty"),
    ],
)
def test_a_bad_name_is_one_error_line_and_nothing_saved(
    cli: Run, tmp_path: Path, registry: Registry, args: tuple[str, ...], env: dict[str, str], expected: str
) -> None:
    message_id = seed(tmp_path, registry)
    before = counts(tmp_path)
    result = cli(tmp_path, "annotate", str(message_id), "--note", "n", *args, **env)
    assert expected in refused(result)
    assert counts(tmp_path) == before


@pytest.mark.parametrize("host", ["0.0.0.0", "192.0.2.7", "::", "example.org"])
def test_ui_beyond_this_machine_needs_a_password(cli: Run, tmp_path: Path, host: str) -> None:
    line = refused(cli(tmp_path, "ui", "--host", host, "--port", str(free_port())))
    assert line == (
        f"error: --host {host} lets other machines reach the app: set SIMULACRA_PASSWORD (in the environment or"
        " .env) first, and every browser will be asked for it"
    )


def test_an_empty_password_is_refused(cli: Run, tmp_path: Path) -> None:
    line = refused(cli(tmp_path, "ui", "--host", "0.0.0.0", SIMULACRA_PASSWORD=""))
    assert "password" in line and "empty" in line


@pytest.mark.slow
@pytest.mark.skipif(sys.platform != "linux", reason="reads /proc")
def test_the_password_reaches_the_app_by_its_environment_not_its_command_line(
    cli_start: Callable[..., subprocess.Popen[str]], tmp_path: Path
) -> None:
    port = free_port()
    # From .env, as a team server keeps it: the app gets it all the same.
    (tmp_path / ".env").write_text(f"SIMULACRA_PASSWORD={PASSWORD}\n", encoding="utf-8")
    log = tmp_path / "out.log"
    with log.open("w") as out:
        process = cli_start(tmp_path, "ui", "--host", "0.0.0.0", "--port", str(port), stderr=out)
    try:
        wait_for_server(f"http://127.0.0.1:{port}/_stcore/health", process, timeout=60, log=log)  # type: ignore[arg-type]
        # `ui` replaces itself with Streamlit (same pid): what `ps` shows of the running app.
        command_line = Path(f"/proc/{process.pid}/cmdline").read_bytes()
        environment = Path(f"/proc/{process.pid}/environ").read_bytes().split(b"\0")
        assert b"streamlit" in command_line and PASSWORD.encode() not in command_line
        assert f"SIMULACRA_PASSWORD={PASSWORD}".encode() in environment
    finally:
        stop_process(process)
    assert PASSWORD not in log.read_text()
