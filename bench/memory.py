"""Resident memory of the app with both bundled models loaded, against the 1.5 GB budget.

Runs the real Streamlit app (streamlit.testing AppTest) in a fresh process on a throwaway database,
sends one message to the three default lanes (two base lanes and the chat lane, so both bundled models
are loaded), then runs the capital-quiz suite with a few samples from the Experiments page (the server-side
job the app runs: samples of base and chat lanes drawn a chunk at a time), and reports that process's
resident set size after the turn, after the run has ended, and at its peak. The reference measured in the
same run is the same process before the app started (Python with the app's libraries imported).
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

SAMPLES = 4  # per cell: one chunk of samples drawn at once (ui/service/experiments/cells.py CHAT_GROUP)

CHILD = r"""
import json, resource, sys, time
import psutil
from streamlit.testing.v1 import AppTest
import llama_cpp, litellm, sqlmodel  # noqa: F401  the app's libraries, for the baseline
from ui.service.experiments.jobs import experiment_jobs
process = psutil.Process()
baseline = process.memory_info().rss
app = AppTest.from_file(sys.argv[1], default_timeout=600)
app.run()
app.chat_input[0].set_value("What is the capital of France? Tell me about it.").run()
turn = process.memory_info().rss
app.switch_page("views/experiments.py").run()
app.selectbox(key="ex-suite").set_value("capital-quiz").run()
app.number_input(key="ex-samples-capital-quiz").set_value(int(sys.argv[2])).run()
app.button(key="ex-start").click().run()
errors = [e.value for e in app.exception] + [e.value for e in app.error]
while experiment_jobs().running():
    time.sleep(0.5)
app.run()  # the page shows the finished run, as a user who waited sees it
job = experiment_jobs().get(int(app.session_state["ex-run"]))
status = [job.snapshot().status] if job is not None else []
errors += [e.value for e in app.exception]
print(json.dumps({"baseline": baseline, "turn": turn, "rss": process.memory_info().rss, "status": status,
                  "peak": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024, "errors": errors}))
"""


def main() -> int:
    with tempfile.TemporaryDirectory() as data_dir:
        env = {**os.environ, "SIMULACRA_DATA_DIR": data_dir, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
        result = subprocess.run(
            [sys.executable, "-c", CHILD, str(ROOT / "ui" / "web" / "app.py"), str(SAMPLES)],
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
    if figures["errors"] or figures["status"] != ["complete"]:
        print("the app raised:", figures["errors"], "the run ended:", figures["status"])
        return 1
    mb = {key: figures[key] / 2**20 for key in ("baseline", "turn", "rss", "peak")}
    rows = [
        ("process before the app (reference)", mb["baseline"]),
        ("app after a three-lane turn", mb["turn"]),
        (f"app after a capital-quiz run, {SAMPLES} samples a cell", mb["rss"]),
        ("peak", mb["peak"]),
    ]
    for label, value in rows:
        print(f"{label + ':':<50}{value:7.0f} MB")
    print(f"models and app on top of the reference: {mb['rss'] - mb['baseline']:.0f} MB")
    print(f"held after the run / after the turn: {mb['rss'] / mb['turn']:.2f}")
    met = mb["peak"] <= BUDGET_MB  # the peak is never below what is held after the run
    print(
        f"after the run / budget: {mb['rss'] / BUDGET_MB:.2f}, peak / budget: {mb['peak'] / BUDGET_MB:.2f}"
        f"  (budget {BUDGET_MB:.0f} MB: {'met' if met else 'NOT met'})"
    )
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
