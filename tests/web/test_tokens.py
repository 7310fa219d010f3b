# The token view on real replies from the bundled models: what a person sees in each token's coloured span,
# the alternatives of a picked token, the branch buttons, and that no token text can become Markdown or HTML.
# The last test drives the real component in Chromium, where the Markdown is actually rendered.

from __future__ import annotations

import json
import re
import string
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pytest
from streamlit.testing.v1 import AppTest

from simulator.base import Finished
from simulator.registry import Registry
from simulator.values import Alternative, SamplingSettings, Token
from tests.support.processes import serve_script
from ui.web.widgets.conversations.tokens import NO_PROBABILITIES, BranchRequest
from ui.web.widgets.view import escape_markdown

if TYPE_CHECKING:
    from playwright.sync_api import Browser

pytestmark = pytest.mark.model

# Real replies at temperature 0: Markdown and LaTeX punctuation, spaces and blank lines, HTML tags, and
# emoji whose bytes arrive over several tokens (the first ones with empty text).
LATEX_DOC = "In LaTeX, the formula $\\frac{a}{b}$ and the link [home](http://"
HTML_DOC = "<!DOCTYPE html>\n<html>\n<head>\n<title>Test</title>\n</head>\n<body>\n"
EMOJI_DOC = "Favourite emoji, one per line:\n🦜\n🪼\n🫎\n"
# Text no model is asked for: each tries a different way out of a `:color-background[...]` span.
HOSTILE = [
    "<script>alert(1)</script>",
    "](javascript:alert(1))",
    "\\",
    "$x^2$",
    ":red[red] :material/home:",
    "**bold** _it_ `code`",
    "<img src=x onerror=alert(1)>",
    "http://example.com",
]
SPAN = re.compile(r":(\w+)-background\[((?:\\.|[^\\\]])*)\]")
# What the view promises to show for whitespace, spelled out here rather than imported from the module.
MARKERS = {"·": " ", "↵": "\n", "→": "\t", "◌": ""}
WORD_JOINER = "\u2060"


def colour_for(p: float) -> str:
    """The documented bands: green p ≥ 0.7, yellow ≥ 0.4, orange ≥ 0.15, red ≥ 0.03, violet below."""
    for floor, colour in ((0.7, "green"), (0.4, "yellow"), (0.15, "orange"), (0.03, "red")):
        if p >= floor:
            return colour
    return "violet"


def shown_as(text: str) -> str:
    """How a person should see a token's text: whitespace as symbols."""
    return text.replace(" ", "·").replace("\t", "→").replace("\n", "↵") if text else "◌"


def spans(markdown: str) -> list[tuple[str, str]]:
    """(colour, the text a reader sees) for each coloured span, undoing Markdown escapes."""
    found = [(colour, content) for colour, content in SPAN.findall(markdown)]
    for _, content in found:
        # Every ASCII punctuation character is escaped, so none can end the span or start any syntax.
        bare = re.sub(r"\\.", "", content)
        assert not set(bare) & set(string.punctuation), content
    return [(colour, re.sub(r"\\(.)", r"\1", content).replace(WORD_JOINER, "")) for colour, content in found]


def read_back(seen: str) -> str:
    return "".join(MARKERS.get(c, c) for c in seen)


def spans_per_token(token: Token) -> int:
    """Each line of a token is its own span (its newline shown as ↵ at the end); an empty token is one ◌."""
    return token.text.count("\n") + (0 if token.text.endswith("\n") else 1)


def base_reply(registry: Registry, document: str, max_tokens: int = 40) -> list[Token]:
    simulator = registry.simulator(registry.resolve("base"))
    settings = SamplingSettings(temperature=0.0, max_tokens=max_tokens, seed=1)
    return [t for t in simulator.continue_document(document, settings) if isinstance(t, Token)]


@pytest.fixture(scope="module")
def latex(registry: Registry) -> list[Token]:
    tokens = base_reply(registry, LATEX_DOC)
    text = "".join(t.text for t in tokens)
    # The tests below are only worth something if the reply really has these.
    assert " " in text and "\n" in text and "$" in text and "\\" in text and "{" in text, text
    assert not set(text) & set(MARKERS), "the reply itself uses a marker character"
    return tokens


@pytest.fixture(scope="module")
def html(registry: Registry) -> list[Token]:
    tokens = base_reply(registry, HTML_DOC, max_tokens=24)
    assert "<" in "".join(t.text for t in tokens)
    return tokens


def view_app(compact: list[list[object]]) -> None:
    """The component as a page would use it: keep what it returns, and show the last run's answer."""
    import streamlit as st

    from simulator.values import Token
    from ui.web.widgets.conversations.tokens import token_view

    tokens = [Token.from_compact(item) for item in compact]
    shown = st.session_state.get("length", len(tokens))
    request = token_view(tokens[:shown], key="tv")
    if request is not None:
        st.session_state.setdefault("requests", []).append(request)
    st.text(f"returned: {request!r}")


def chart(at: AppTest) -> tuple[dict[str, Any], dict[str, list[dict[str, Any]]]]:
    """The probability chart's Vega-Lite spec and its datasets (name -> rows), as the browser receives them."""
    element = at.get("vega_lite_chart")[0]
    datasets = {d.name: pa.ipc.open_stream(d.data.data).read_all().to_pylist() for d in element.proto.datasets}
    return json.loads(element.proto.spec), datasets


def marked(at: AppTest) -> list[int]:
    """The token positions the chart marks with its vertical rule (the picked token)."""
    spec, datasets = chart(at)
    rules = [layer for layer in spec["layer"] if layer["mark"]["type"] == "rule"]
    return [row["i"] for layer in rules for row in datasets[layer["data"]["name"]]]


def render(tokens: list[Token]) -> AppTest:
    at = AppTest.from_function(view_app, args=([t.compact() for t in tokens],), default_timeout=30)
    at.run()
    assert not at.exception, at.exception
    return at


def branch_buttons(at: AppTest) -> list[Any]:
    """The picked token's "Branch here" buttons (the surprise curve's buttons are always there)."""
    return [b for b in at.button if b.key.startswith("tv-branch-")]


def stored(tokens: list[Token]) -> list[Token]:
    """The tokens as the page gets them back from the database (probabilities rounded to 5 places)."""
    return [Token.from_compact(t.compact()) for t in tokens]


def test_every_token_is_shown_in_its_probability_colour_with_whitespace_visible(latex: list[Token]) -> None:
    at = render(latex)
    markdown = at.markdown[0].value
    seen = spans(markdown)

    assert read_back("".join(text for _, text in seen)) == "".join(t.text for t in latex)
    text = "".join(t.text for t in latex)
    assert markdown.count("·") == text.count(" ")
    assert markdown.count("↵") == text.count("\n")
    assert markdown.count("\\\n") == text.count("\n")  # each newline is also a real line break

    expected: list[str] = []
    for token in stored(latex):
        assert token.p is not None
        expected += [colour_for(token.p)] * spans_per_token(token)
    assert [colour for colour, _ in seen] == expected
    assert len(set(expected)) >= 3, expected  # a reply in one colour would prove little
    legend = at.caption[0].value
    assert all(f":{colour}-background[" in legend for colour in ("green", "yellow", "orange", "red", "violet"))


def test_the_chart_plots_each_probability_and_carries_the_alternatives_its_hover_shows(latex: list[Token]) -> None:
    at = render(latex)
    spec, datasets = chart(at)
    points = next(layer for layer in spec["layer"] if layer["mark"]["type"] == "circle")
    rows = datasets[points.get("data", spec.get("data"))["name"]]  # Altair lifts data all layers share
    tokens = stored(latex)
    assert [row["i"] for row in rows] == list(range(len(tokens)))
    assert [row["p"] for row in rows] == pytest.approx([t.p for t in tokens])
    assert [row["token"] for row in rows] == [shown_as(t.text) for t in tokens]
    for row, token in zip(rows, tokens, strict=True):
        assert [row[f"alternative {j + 1}"] for j in range(5)] == [f"{shown_as(a.text)}  {a.p:.3f}" for a in token.top]
    tooltip = [field["field"] for field in points["encoding"]["tooltip"]]
    assert tooltip == ["i", "token", "p", *(f"alternative {j + 1}" for j in range(5))]
    # A click selects a point by its token index, and that selection is what reruns the app.
    assert spec["params"][0]["select"] == {"type": "point", "fields": ["i"], "on": "click", "clear": False}
    assert at.get("vega_lite_chart")[0].proto.selection_mode == ["pick"]
    assert marked(at) == []


def test_a_picked_token_lists_its_alternatives_and_a_branch_button_for_each_other_one(latex: list[Token]) -> None:
    at = render(latex)
    assert not at.dataframe and not branch_buttons(at)  # nothing picked yet
    tokens = stored(latex)
    i = min(range(len(tokens)), key=lambda n: tokens[n].p or 1.0)  # the least likely token: a real fork
    token = tokens[i]

    at.number_input(key="tv-pick").set_value(i).run()
    assert not at.exception
    table = at.dataframe[0].value
    assert list(table["alternative"]) == [shown_as(a.text) for a in token.top]
    assert list(table["probability"]) == pytest.approx([a.p for a in token.top])
    assert list(table["token"]) == [shown_as(token.text)] * len(token.top)
    # At temperature 0 the reply took the top alternative, and the table says which one it took.
    assert token.top[0].text == token.text and table.iloc[0, 3] == "← the reply's token"
    assert not any(table.iloc[1:, 3])
    assert [b.label for b in branch_buttons(at)] == [
        f"Branch here with ‘{escape_markdown(shown_as(a.text))}’" for a in token.top[1:]
    ]
    assert any(f"p {token.p:.3f}" in m.value for m in at.markdown)
    assert marked(at) == [i]


def test_branch_here_returns_the_chosen_alternative_in_the_run_it_was_clicked(latex: list[Token]) -> None:
    at = render(latex)
    tokens = stored(latex)
    i = 3
    at.number_input(key="tv-pick").set_value(i).run()
    assert at.text[0].value == "returned: None"

    at.button(key=f"tv-branch-{i}-2").click().run()
    chosen = tokens[i].top[2]
    expected = BranchRequest(at=i, token=chosen.text, p=chosen.p)
    assert at.text[0].value == f"returned: {expected!r}"
    assert at.session_state["requests"] == [expected]

    at.run()  # the next run, with no click, asks for nothing
    assert at.text[0].value == "returned: None"
    assert at.session_state["requests"] == [expected]


def test_markup_in_tokens_and_alternatives_is_shown_literally(html: list[Token]) -> None:
    hostile = [
        Token(text=t, p=0.5, top=[Alternative(text=t, p=0.5), *(Alternative(text=h, p=0.05) for h in HOSTILE)])
        for t in HOSTILE
    ]
    tokens = hostile + html
    at = render(tokens)
    markdown = at.markdown[0].value
    assert read_back("".join(text for _, text in spans(markdown))) == "".join(t.text for t in tokens)
    assert "<" not in markdown.replace("\\<", "")  # no raw HTML tag can open anywhere in the source

    at.number_input(key="tv-pick").set_value(0).run()  # the <script> token; every alternative is hostile too
    assert not at.exception
    assert list(at.dataframe[0].value["alternative"]) == [shown_as(t) for t in [HOSTILE[0], *HOSTILE]]
    # Button labels are Markdown too: escaped like the spans, they read back as the alternatives' own text.
    labels = [b.label.removeprefix("Branch here with ‘").removesuffix("’") for b in branch_buttons(at)]
    assert [read_back(spans(f":x-background[{label}]")[0][1]) for label in labels] == HOSTILE[1:]
    at.button(key="tv-branch-0-7").click().run()
    assert at.session_state["requests"] == [BranchRequest(at=0, token=HOSTILE[6], p=0.05)]


def test_a_character_split_over_tokens_shows_its_empty_tokens_and_offers_no_broken_branch(
    registry: Registry,
) -> None:
    tokens = stored(base_reply(registry, EMOJI_DOC, max_tokens=12))
    empty = [i for i, t in enumerate(tokens) if t.text == ""]
    assert empty, "the emoji reply no longer splits a character over tokens"
    at = render(tokens)
    seen = [text for _, text in spans(at.markdown[0].value)]
    assert [n for n, text in enumerate(seen) if text == "◌"] == [
        sum(spans_per_token(t) for t in tokens[:i]) for i in empty
    ]

    first = empty[0]  # the first byte of an emoji: its alternatives include whole emoji, which can be branched to
    at.number_input(key="tv-pick").set_value(first).run()
    whole = [a.text for a in tokens[first].top if "\ufffd" not in a.text]
    assert whole and len(whole) < len(tokens[first].top)
    assert [b.label for b in branch_buttons(at)] == [f"Branch here with ‘{escape_markdown(a)}’" for a in whole]

    i = empty[1]
    at.number_input(key="tv-pick").set_value(i).run()
    assert not at.exception
    alternatives = tokens[i].top
    assert all(a.text == "\ufffd" for a in alternatives)  # each is one byte of some character
    assert list(at.dataframe[0].value["alternative"]) == ["\ufffd"] * len(alternatives)
    assert not branch_buttons(at)  # branching with half a character would write a broken one
    assert any("piece of a character" in c.value for c in at.caption)


def test_a_chat_reply_shows_its_text_and_says_it_has_no_probabilities(registry: Registry) -> None:
    chat = registry.chat(registry.resolve("chat"))
    settings = SamplingSettings(temperature=0.0, max_tokens=16, seed=1)
    messages = [{"role": "user", "content": "Say hello in two short sentences."}]
    tokens = [t for t in chat.stream(messages, settings) if not isinstance(t, Finished)]
    assert tokens and all(t.p is None for t in tokens)
    at = render(tokens)
    seen = spans(at.markdown[0].value)
    assert read_back("".join(text for _, text in seen)) == "".join(t.text for t in tokens)
    assert {colour for colour, _ in seen} == {"gray"}
    assert [c.value for c in at.caption] == [NO_PROBABILITIES]
    assert not at.number_input and not at.button


def test_a_shorter_reply_under_the_same_key_forgets_a_pick_beyond_its_end(latex: list[Token]) -> None:
    at = render(latex)
    at.number_input(key="tv-pick").set_value(30).run()
    assert at.dataframe and marked(at) == [30]
    at.session_state["length"] = 10  # e.g. the lane regenerated a shorter reply
    at.run()
    assert not at.exception
    assert at.number_input(key="tv-pick").value is None and not at.dataframe
    assert marked(at) == []


# -- in Chromium -------------------------------------------------------------------------------------------

BROWSER_APP = """
import json, sys
import streamlit as st
from simulator.values import Token
from ui.web.widgets.conversations.tokens import token_view

tokens = [Token.from_compact(t) for t in json.load(open(sys.argv[1]))]
request = token_view(tokens, key="tv")
if request is not None:
    st.session_state["request"] = request
st.text(f"requested: {st.session_state.get('request')!r}")
"""


def click_point(page: Any, n: int) -> None:
    """Click the chart's nth point where a person would: at its centre, with no tooltip in the way."""
    page.mouse.move(0, 0)
    page.locator("#vg-tooltip-element.visible").wait_for(state="detached", timeout=5_000)
    box = page.locator('[data-testid="stVegaLiteChart"] .mark-symbol path').nth(n).bounding_box()
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)


@pytest.mark.browser
@pytest.mark.slow
def test_in_chromium_markup_stays_text_and_a_chart_click_leads_to_a_branch(
    browser: Browser, tmp_path: Path, latex: list[Token]
) -> None:
    from playwright.sync_api import Dialog, expect

    hostile = [Token(text=t, p=0.5) for t in HOSTILE]
    tokens = hostile + latex
    data = tmp_path / "tokens.json"
    data.write_text(json.dumps([t.compact() for t in tokens]))
    script = tmp_path / "token_page.py"
    script.write_text(BROWSER_APP)
    with serve_script(script, str(data), cwd=tmp_path, log=tmp_path / "server.log") as url:
        page = browser.new_page(viewport={"width": 1200, "height": 1400})
        dialogs: list[str] = []  # an alert() would mean token text ran as script

        def on_dialog(dialog: Dialog) -> None:
            dialogs.append(dialog.message)
            dialog.dismiss()

        page.on("dialog", on_dialog)
        page.goto(url)
        page.get_by_text("Token #").first.wait_for(timeout=60_000)
        reply = page.locator('[data-testid="stMarkdownContainer"]').first
        seen = reply.inner_text().replace("\u200b", "").replace(WORD_JOINER, "")
        tags = reply.evaluate("e => [...e.querySelectorAll('*')].map(n => n.tagName.toLowerCase())")
        # A hover shows the token and its alternatives.
        i = len(hostile) + 3
        page.locator('[data-testid="stVegaLiteChart"] .mark-symbol path').nth(i).hover()
        tooltip = page.locator("#vg-tooltip-element")
        tooltip.wait_for(state="visible", timeout=5_000)
        tip = tooltip.inner_text()
        page.locator('[data-testid="stVegaLiteChart"] .mark-symbol path').nth(0).hover()
        page.wait_for_function("() => document.querySelector('#vg-tooltip-element').innerText.includes('<')")
        script_tip = tooltip.inner_html()
        click_point(page, i)
        page.get_by_text(f"Token #{i} ").first.wait_for(timeout=30_000)
        expect(page.locator('[data-testid="stNumberInput"] input')).to_have_value(str(i))
        page.locator('[data-testid="stDataFrame"]').wait_for(timeout=30_000)  # the alternatives table
        chosen = latex[3].top[1]
        page.get_by_role("button", name=f"Branch here with ‘{shown_as(chosen.text)}’").click()
        page.get_by_text("requested: BranchRequest").wait_for(timeout=30_000)
        requested = page.get_by_text("requested: ").inner_text()
        exceptions = page.locator('[data-testid="stException"]').count()

    expected = "".join(shown_as(t.text) for t in tokens).replace("↵", "↵\n")
    assert seen == expected
    assert set(tags) <= {"p", "span", "br"}, tags  # no link, image, script, code or emphasis came through
    assert not dialogs
    token = latex[3]
    assert f"{shown_as(token.text)}" in tip and all(shown_as(a.text) in tip for a in token.top), tip
    assert "&lt;script&gt;" in script_tip and "<script>" not in script_tip  # tooltips are escaped too
    stored_chosen = Token.from_compact(latex[3].compact()).top[1]
    assert requested == f"requested: {BranchRequest(at=i, token=chosen.text, p=stored_chosen.p)!r}"
    assert exceptions == 0
