# The Compare page with a base lane on a real inference server (`python -m llama_cpp.server` serving the bundled
# gemma): the token view, a branch from a token, samples, replay and the fidelity badges, as on a local lane.

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest
from streamlit.testing.v1.element_tree import Block

from tests.support.screen import keyed_blocks, reply_text
from ui.service.conversations.replays import replay_outcome

pytestmark = [pytest.mark.model, pytest.mark.slow]

QUESTION = "What is the capital of France?"


def with_remote_lane(tmp_path: Path, api_base: str, mask: str) -> None:
    (tmp_path / "simulacra.toml").write_text(
        f'default_lanes = ["remote-gemma@{mask}"]\n\n[[models]]\nname = "remote-gemma"\nkind = "simulator"\n'
        f'api = "openai-completions"\napi_base = "{api_base}"\n'
        # llama_cpp.server answers one request at a time (samples queue) at about a token a second.
        "\n[timeouts]\nfirst_token = 300\nstall = 60\n"
    )


def one_turn(app: AppTest, max_tokens: int = 12) -> AppTest:
    at = app.run()
    at.slider(key="draft-0-temperature").set_value(0.0)
    at.number_input(key="draft-0-max_tokens").set_value(max_tokens)
    at.number_input(key="draft-0-seed").set_value(1)
    at.chat_input[0].set_value(QUESTION).run(timeout=600)
    assert not at.exception and not at.error
    return at


def cell(at: AppTest) -> Block:
    block = at.main.get_by_key("reply-0-0")
    assert isinstance(block, Block)
    return block


def captions(at: AppTest) -> list[str]:
    return [c.value for c in cell(at).caption]


def test_token_view_branch_samples_and_replay_on_a_remote_lane(app: AppTest, tmp_path: Path, gemma_server: str) -> None:
    with_remote_lane(tmp_path, gemma_server, "raw")
    at = one_turn(app)
    original = reply_text(cell(at))
    assert original.strip()

    at.toggle(key="lane0-turn0-tokens").set_value(True).run()
    panel = at.main.get_by_key("tokens-0-0")
    assert isinstance(panel, Block)
    assert any("background[" in m.value for m in panel.markdown), "tokens coloured by their probability"
    at.number_input(key="lane0-turn0-tv-pick").set_value(2).run()
    branch = [b for b in at.main.button if (b.key or "").startswith("lane0-turn0-tv-branch-2-")]
    assert len(branch) >= 3, "the server's top-5 alternatives at token #2"
    branch[0].click().run(timeout=600)
    assert not at.exception and not at.error
    assert "2/2" in captions(at)
    assert any(c.startswith("branched from reply #") and c.endswith("at token #2") for c in captions(at))
    assert reply_text(cell(at)) != original

    at.toggle(key="lane0-turn0-tokens").set_value(False).run()
    at.number_input(key="lane0-turn0-samples-n").set_value(3)
    at.button(key="lane0-turn0-samples-go").click().run(timeout=600)
    assert not at.exception and not at.error
    grid = keyed_blocks(at.main, "sample-")
    assert len(grid) >= 4, [b.key for b in grid]  # the replies the samples were drawn beside, then the three
    seeds = {c.value.rsplit("seed ", 1)[1] for block in grid[-3:] for c in block.caption if "seed " in c.value}
    assert len(seeds) == 3

    at.button(key="lane0-turn0-replay").click().run(timeout=600)
    assert not at.exception and not at.error
    verdicts = [m.value for m in [*at.main.success, *at.main.warning] if "Replay of reply #" in m.value]
    assert len(verdicts) == 1 and ("identical" in verdicts[0] or "first token that differs" in verdicts[0])


def test_the_fidelity_badges_of_a_masked_remote_reply(app: AppTest, tmp_path: Path, gemma_server: str) -> None:
    with_remote_lane(tmp_path, gemma_server, "assistant")
    at = one_turn(app, max_tokens=8)
    badges = " ".join(m.value for m in cell(at).markdown)

    assert "in character 0." in badges and "perplexity" in badges and "mask effect ×" in badges, badges
    assert "Paris" in reply_text(cell(at))


def test_a_replay_verdict_names_the_first_token_that_differs() -> None:
    assert replay_outcome(4, [" Paris", "."], [" Paris", "."]).describe() == "Replay of reply #4: identical."
    assert replay_outcome(4, [" Paris", "."], [" Paris", "!"]).describe() == (
        "Replay of reply #4: the first token that differs is #1: '!' instead of '.'."
    )
    assert replay_outcome(4, [" Paris"], [" Paris", "."]).differs_at == 1
