"""Who is speaking? on a remote base model whose server gives no prompt probabilities: one sentence naming the model,
said once, before any text is sent for scoring. (The stand-in plays such a server: none is at hand to run here.)"""

from __future__ import annotations

import pytest

from personas.catalog import load_mask
from simulator.registry import ModelEntry, Registry
from tests.support.standins import HeaderRecordingServer
from ui.service.errors import ServiceError
from ui.service.inside.whois import score

pytestmark = pytest.mark.slow  # litellm's first import alone takes about 9 s


def test_a_server_without_prompt_probabilities_says_so_once() -> None:
    with HeaderRecordingServer() as server:
        entry = ModelEntry(
            name="remote-base", kind="simulator", api="openai-completions", api_base=f"{server.url}/no-echo/v1"
        )
        registry = Registry(n_ctx=512, n_threads=1, extra=[entry])
        try:
            probe = registry.probe(registry.resolve("remote-base"))
            asked = len(server.requests_to("/completions"))
            masks = [load_mask(name) for name in ("assistant", "raw", "rogue-ai")]
            with pytest.raises(ServiceError) as raised:
                score(registry, "remote-base", masks, [], "Paris is the capital of France.")
        finally:
            registry.close()

    assert str(raised.value) == (
        "who is speaking? needs the probability of every token of a given text, and remote-base's server returns"
        " none (vLLM does, with echo; llama-server and Ollama do not): score with an in-process model instead"
    )
    assert probe.logprobs and not probe.prompt_logprobs
    assert probe.summary().endswith("no prompt probabilities")
    # Said before any mask's text was sent: the probe's requests are all the server saw.
    assert len(server.requests_to("/completions")) == asked
