"""Resident memory of the app with both bundled models loaded, against the 1.5 GB budget.

Runs the real Streamlit app (streamlit.testing AppTest) in a fresh process on a throwaway database,
sends one message to the three default lanes (two base lanes and the chat lane, so both bundled models
are loaded), and reports that process's resident set size: now, and at its peak. The reference measured
in the same run is the same process before the app started (Python with the app's libraries imported).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

BUDGET_MB = 1536.0
ROOT = Path(__file__).resolve().parents[1]

CHILD = r"""
import json, resource, sys
import psutil
from streamlit.testing.v1 import AppTest
import llama_cpp, litellm, sqlmodel  # noqa: F401  the app's libraries, for the baseline
process = psutil.Process()
baseline = process.memory_info().rss
app = AppTest.from_file(sys.argv[1], default_timeout=600)
app.run()
app.chat_input[0].set_value("What is the capital of France? Tell me about it.").run()
errors = [e.value for e in app.exception]
print(json.dumps({"baseline": baseline, "rss": process.memory_info().rss,
                  "peak": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024, "errors": errors}))
"""


def main() -> int:
    with tempfile.TemporaryDirectory() as data_dir:
        env = {**os.environ, "SIMULACRA_DATA_DIR": data_dir, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
        result = subprocess.run(
            [sys.executable, "-c", CHILD, str(ROOT / "ui" / "web" / "app.py")],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        )
    lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
    if result.returncode != 0 or not lines:
        print(result.stdout[-2000:], result.stderr[-2000:], sep="\n")
        return 1
    figures = json.loads(lines[-1])
    if figures["errors"]:
        print("the app raised:", figures["errors"])
        return 1
    mb = {key: figures[key] / 2**20 for key in ("baseline", "rss", "peak")}
    print(f"process before the app (reference): {mb['baseline']:7.0f} MB")
    print(f"app after a three-lane turn:        {mb['rss']:7.0f} MB  (peak {mb['peak']:.0f} MB)")
    print(f"models and app on top of the reference: {mb['rss'] - mb['baseline']:.0f} MB")
    print(
        f"peak / budget: {mb['peak'] / BUDGET_MB:.2f}  (budget {BUDGET_MB:.0f} MB: "
        f"{'met' if mb['peak'] <= BUDGET_MB else 'NOT met'})"
    )
    return 0 if mb["peak"] <= BUDGET_MB else 1


if __name__ == "__main__":
    sys.exit(main())
