# `simulacra import` on the files of issue 18's audit: `{"messages": [{}, {}, ...]}` of 2 and 20 MB took the
# command to 2.47 and 23.6 GB before its one error line. Each is refused with one line naming the first problems,
# writes nothing, and stays under 300 MB at its peak, measured as a user would (`/usr/bin/time`).

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.cli_runs import counts, refused

Run = Callable[..., subprocess.CompletedProcess[str]]
MB = 1024 * 1024
SIZES = {"2 MB": 2 * MB, "20 MB": 20 * MB}
HEADER = '"format": "simulacra.conversation", "version": 1, "conversation": {"id": 1}, '
SIMULACRA = Path(sys.executable).with_name("simulacra")


def empty_messages(folder: Path, size: int, *, header: bool = False) -> Path:
    """`{"messages": [{}, {}, ...]}` of `size` bytes; with `header`, after a valid format, version and
    conversation, so only its rows are wrong."""
    head = "{" + (HEADER if header else "") + '"messages": ['
    count = (size - len(head)) // 4  # each `{}, ` is 4 bytes; the last has `]}` instead of `, `
    path = folder / f"empty-{size // MB}mb{'-header' if header else ''}.json"
    path.write_text(head + ", ".join(["{}"] * count) + "]}", encoding="utf-8")
    assert abs(path.stat().st_size - size) < 8
    return path


@pytest.mark.parametrize("header", [False, True], ids=["bare", "after a header"])
@pytest.mark.parametrize("size", SIZES.values(), ids=SIZES.keys())
def test_a_file_of_empty_messages_is_refused_with_its_first_problems(
    cli: Run, tmp_path: Path, size: int, header: bool
) -> None:
    path = empty_messages(tmp_path, size, header=header)
    line = refused(cli(tmp_path, "import", str(path)))
    assert line.startswith(f"error: {path}: not a valid conversation export: messages[0].id: Field required; ")
    assert "messages[6].id: Field required" in line  # 3 problems a row: id, conversation_id and role
    assert "messages[7]" not in line
    assert line.endswith("(and maybe more: reading stopped there)")
    assert counts(tmp_path) == (0, 0, 0, 0)


def _peak_mb(home: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], float]:
    """Run the real `simulacra` under /usr/bin/time; what it did, and its peak resident memory in MB."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SIMULACRA_")}
    env.update(SIMULACRA_DATA_DIR=str(home / "data"), SIMULACRA_CONFIG=str(home / "simulacra.toml"))
    report = home / "time.txt"
    command = ["/usr/bin/time", "-f", "%M", "-o", str(report), str(SIMULACRA), *args]
    result = subprocess.run(command, cwd=home, env=env, capture_output=True, text=True, timeout=300)
    # GNU time writes "Command exited with non-zero status 2" first, then the maximum RSS in KB.
    return result, int(report.read_text().split()[-1]) / 1024


@pytest.mark.cli
def test_refusing_them_takes_under_300_mb(tmp_path: Path) -> None:
    # Memory is the behaviour here: one test, each file in its own process, as the audit ran them. The 2 MB file
    # after a header took 1.9 GB when every row was checked (a 20 MB one would take this machine's memory).
    for size, header in ((2 * MB, False), (20 * MB, False), (2 * MB, True)):
        path = empty_messages(tmp_path, size, header=header)
        result, peak = _peak_mb(tmp_path, "import", str(path))
        assert "not a valid conversation export: messages[0].id: Field required" in refused(result)
        assert peak < 300, f"{path.name}: {peak:.0f} MB at the peak"
    assert counts(tmp_path) == (0, 0, 0, 0)
