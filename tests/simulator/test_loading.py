# Loading llama.cpp models from several threads at once, as a conversation with a base and a chat lane does:
# llama-cpp-python points stdout and stderr at /dev/null while it loads, and two loads that overlap used to
# leave them there, so `simulacra ask --json` exited with nothing printed at all.

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

LOAD_TOGETHER = textwrap.dedent(
    """
    import threading
    from simulator.bundled import gemma_base_path, smollm2_chat_path
    from simulator.loading import load_llama, load_model, load_vocabulary

    loads = [
        lambda: load_model(gemma_base_path()),
        lambda: load_llama(smollm2_chat_path(), n_ctx=256, n_threads=1),
        lambda: load_vocabulary(gemma_base_path()),
    ]
    for _ in range(4):
        start = threading.Barrier(len(loads))
        threads = [threading.Thread(target=lambda load=load: (start.wait(), load())) for load in loads]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    print("still printing to stdout")
    import sys
    print("and to stderr", file=sys.stderr)
    """
)


@pytest.mark.model
def test_models_loaded_together_leave_stdout_and_stderr_working() -> None:
    result = subprocess.run([sys.executable, "-c", LOAD_TOGETHER], capture_output=True, text=True, timeout=300)

    assert result.returncode == 0, result.stderr
    assert result.stdout == "still printing to stdout\n"
    assert result.stderr.endswith("and to stderr\n")
