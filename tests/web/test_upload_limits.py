# Uploading issue 18's hostile files: `{"messages": [{}, {}, ...]}` of 2 MB raised the app server from 1.0 to
# 3.2 GB on the Transcripts page. There each file shows one error naming its first problems, saves nothing, and the
# upload raises the app's peak memory by less than 300 MB, measured in a process of its own; on the Masks page, as
# a character card, each is one error and no mask.

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from streamlit.testing.v1 import AppTest

from tests.support.screen import plain
from tests.support.transcripts import PAGE, Seed, _plain, transcripts

APP = Path(__file__).resolve().parents[2] / "ui" / "web" / "app.py"
MB = 1024 * 1024
SIZES = (2 * MB, 20 * MB)
HEADER = b'"format": "simulacra.conversation", "version": 1, "conversation": {"id": 1}, '


def empty_messages(size: int, header: bytes = b"") -> bytes:
    """`{"messages": [{}, {}, ...]}` of `size` bytes, after `header` (a valid format, version and conversation,
    so only the rows are wrong)."""
    head = b"{" + header + b'"messages": ['
    return head + b", ".join([b"{}"] * ((size - len(head)) // 4)) + b"]}"


def test_a_file_of_empty_messages_shows_one_error_and_saves_nothing(app: AppTest, seed: Seed) -> None:
    at = transcripts(app)
    for size in SIZES:
        at.sidebar.file_uploader[0].set_value(("empty.json", empty_messages(size), "application/json")).run()
        assert not at.exception
        [error] = at.error
        message = _plain(error.value)
        assert message.startswith("Import failed: empty.json: not a valid conversation export: messages[0].id: ")
        assert message.endswith("(and maybe more: reading stopped there)"), message
        assert seed.conversations() == 0


def test_as_a_card_on_the_masks_page_each_is_one_error_and_no_mask(app: AppTest, data_dir: Path) -> None:
    at = app.run()
    at.switch_page("views/masks.py").run()
    for size in SIZES:
        at.file_uploader(key="masks-upload").set_value(("empty.json", empty_messages(size), "application/json"))
        at.run()
        assert not at.exception
        assert [plain(e.value) for e in at.error] == [
            "Not imported: empty.json: card file holds more than 500,000 values; no mask or character card does"
        ]
        assert not (data_dir / "masks").exists()


# Run in its own process, so the peak is this upload's alone: the kernel's high-water mark is reset just before.
CHILD = r"""
import json, sys
from pathlib import Path
from streamlit.testing.v1 import AppTest

def status(field):
    line = next(line for line in Path("/proc/self/status").read_text().splitlines() if line.startswith(field))
    return int(line.split()[1]) / 1024

at = AppTest.from_file(sys.argv[1], default_timeout=300)
at.switch_page(sys.argv[2]).run()
measured = []
for name in sys.argv[3:]:
    raw = Path(name).read_bytes()
    before = status("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")  # the peak (VmHWM) starts again from the present size
    at.sidebar.file_uploader[0].set_value(("empty.json", raw, "application/json")).run()
    measured.append({"file": Path(name).name, "before": before, "peak": status("VmHWM"),
                     "errors": [e.value for e in at.error], "exceptions": [str(e.value) for e in at.exception]})
print(json.dumps(measured))
"""


def test_the_upload_raises_the_app_by_under_300_mb(seed: Seed, tmp_path: Path) -> None:
    # The 2 MB file after a header raised the app by 1.7 GB when every row was checked.
    files = []
    for name, size, header in (("2mb", 2 * MB, b""), ("20mb", 20 * MB, b""), ("2mb-header", 2 * MB, HEADER)):
        files.append(tmp_path / f"{name}.json")
        files[-1].write_bytes(empty_messages(size, header))
    command = [sys.executable, "-c", CHILD, str(APP), PAGE, *map(str, files)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    for upload in json.loads(result.stdout.splitlines()[-1]):
        assert not upload["exceptions"] and len(upload["errors"]) == 1, upload
        assert "not a valid conversation export" in upload["errors"][0]
        grown = upload["peak"] - upload["before"]
        assert grown < 300, f"{upload['file']}: {grown:.0f} MB more at the peak"
    assert seed.conversations() == 0
