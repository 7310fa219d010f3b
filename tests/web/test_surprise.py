# The surprise curve under the token view, on a real reply of the bundled base model: both curves carry each
# token's entropy and surprisal, "Next fork" and "Least likely token" move the token view's pick, a reply saved
# before entropy was recorded still shows (its surprisal only), and in Chromium the button moves the selection.

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pytest
from streamlit.testing.v1 import AppTest

from simulator.registry import Registry
from simulator.values import SamplingSettings, Token
from tests.support.processes import serve_script

if TYPE_CHECKING:
    from playwright.sync_api import Browser

pytestmark = pytest.mark.model

STORY = "Once upon a time, in a small village by the sea, there lived"


def is_fork(token: Token) -> bool:
    """The documented rule, spelled out here: the runner-up at least half as likely as the favourite."""
    return len(token.top) >= 2 and token.top[1].p >= 0.5 * token.top[0].p


def page(compact: list[list[object]]) -> None:
    from simulator.values import Token
    from ui.web.widgets.conversations.tokens import token_view

    token_view([Token.from_compact(item) for item in compact], key="tv")


BROWSER_PAGE = """
import json, sys
from simulator.values import Token
from ui.web.widgets.conversations.tokens import token_view
token_view([Token.from_compact(item) for item in json.load(open(sys.argv[1]))], key="tv")
"""


@pytest.fixture(scope="module")
def reply(registry: Registry) -> list[Token]:
    simulator = registry.simulator(registry.resolve("base"))
    settings = SamplingSettings(temperature=0.9, max_tokens=30, seed=5)
    tokens = [
        Token.from_compact(t.compact()) for t in simulator.continue_document(STORY, settings) if isinstance(t, Token)
    ]
    assert sum(map(is_fork, tokens)) >= 2, "the tests need a reply with two forks"
    return tokens


def render(tokens: list[Token]) -> AppTest:
    at = AppTest.from_function(page, args=([t.compact() for t in tokens],), default_timeout=30)
    at.run()
    assert not at.exception, at.exception
    return at


def curve(at: AppTest) -> dict[str, list[tuple[int, float]]]:
    """The surprise chart's points, by the measure its legend names: (token #, nats)."""
    element = at.get("vega_lite_chart")[1]  # under the probability chart
    spec = json.loads(element.proto.spec)
    rows: list[dict[str, Any]] = []
    for dataset in element.proto.datasets:
        table = pa.ipc.open_stream(dataset.data.data).read_all().to_pylist()
        if table and "measure" in table[0]:
            rows = table
    assert spec["layer"]
    by: dict[str, list[tuple[int, float]]] = {}
    for row in rows:
        by.setdefault(row["measure"], []).append((row["i"], row["nats"]))
    return by


def picked(at: AppTest) -> int | None:
    value = at.number_input(key="tv-pick").value
    return None if value is None else int(value)


def test_the_curve_plots_each_tokens_entropy_and_surprisal(reply: list[Token]) -> None:
    at = render(reply)
    points = curve(at)

    assert points["entropy"] == [(i, pytest.approx(t.entropy)) for i, t in enumerate(reply)]
    assert points["surprisal"] == [(i, pytest.approx(-math.log(t.p or 0))) for i, t in enumerate(reply)]
    assert "fork" in " ".join(c.value for c in at.caption)


def test_next_fork_and_least_likely_move_the_token_views_pick(reply: list[Token]) -> None:
    forks = [i for i, t in enumerate(reply) if is_fork(t)]
    at = render(reply)

    seen = []
    for _ in range(len(forks) + 1):
        at.button(key="tv-next-fork").click().run()
        seen.append(picked(at))
    assert seen == [*forks, forks[0]]  # each fork in turn, then around again
    assert at.markdown[-1].value.startswith(f"Token #{forks[0]} ")  # the picked token's details follow

    at.button(key="tv-least-likely").click().run()
    least = min(range(len(reply)), key=lambda i: (reply[i].p or 0, i))
    assert picked(at) == least
    assert not at.exception


def test_a_reply_saved_before_entropy_shows_its_surprisal_only(reply: list[Token]) -> None:
    old = [Token.from_compact(t.compact()[:3]) for t in reply]  # the stored form without the entropy
    at = render(old)

    assert "entropy" not in curve(at) and len(curve(at)["surprisal"]) == len(reply)
    at.button(key="tv-next-fork").click().run()  # forks are read from the alternatives, which old rows have
    assert picked(at) == next(i for i, t in enumerate(old) if is_fork(t))
    assert any("saved before entropy" in c.value for c in at.caption)
    at.button(key="tv-least-likely").click().run()
    assert picked(at) is not None and not at.exception


def test_a_servers_bound_is_labelled_as_one(reply: list[Token]) -> None:
    at = render([t.model_copy(update={"entropy_bound": True}) for t in reply])

    assert "entropy ≥ (lower bound)" in curve(at)
    assert any("lower bound" in c.value for c in at.caption)


@pytest.mark.browser
@pytest.mark.slow
def test_in_chromium_next_fork_moves_the_selection(browser: Browser, tmp_path: Path, reply: list[Token]) -> None:
    from playwright.sync_api import expect

    forks = [i for i, t in enumerate(reply) if is_fork(t)]
    data = tmp_path / "tokens.json"
    data.write_text(json.dumps([t.compact() for t in reply]))
    script = tmp_path / "surprise_page.py"
    script.write_text(BROWSER_PAGE)
    with serve_script(script, str(data), cwd=tmp_path, log=tmp_path / "server.log") as url:
        view = browser.new_page(viewport={"width": 1200, "height": 1400})
        view.goto(url)
        view.get_by_role("button", name="Next fork").wait_for(timeout=60_000)
        view.get_by_role("button", name="Next fork").click()
        view.get_by_text(f"Token #{forks[0]} ").first.wait_for(timeout=30_000)
        expect(view.locator('[data-testid="stNumberInput"] input')).to_have_value(str(forks[0]))
        view.get_by_role("button", name="Next fork").click()
        view.get_by_text(f"Token #{forks[1]} ").first.wait_for(timeout=30_000)
        expect(view.locator('[data-testid="stNumberInput"] input')).to_have_value(str(forks[1]))
        view.wait_for_timeout(500)  # let the charts redraw their rule before the picture
        view.screenshot(path=str(tmp_path / "surprise.png"), full_page=True)
        legend = view.locator('[data-testid="stVegaLiteChart"]').nth(1).inner_text()
        exceptions = view.locator('[data-testid="stException"]').count()

    assert exceptions == 0
    assert "entropy" in legend and "surprisal" in legend
