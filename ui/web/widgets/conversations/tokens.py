"""The token view: a reply token by token, coloured by how likely each token was, with the alternatives the
model weighed at any position and a button to branch there. Token text is model output, so it reaches the
screen only as escaped Markdown or as plain data (dataframe cells, chart tooltips), never as HTML."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial

import altair as alt
import pandas as pd
import streamlit as st

from simulator.values import Token
from ui.web.widgets.inside.surprise import surprise_panel
from ui.web.widgets.view import escape_markdown


@dataclass(frozen=True)
class BranchRequest:
    """Continue the lane from its document plus `tokens[:at]` plus `token` instead of `tokens[at]`."""

    at: int
    token: str
    p: float | None


@dataclass(frozen=True)
class Band:
    """A probability range: the Streamlit Markdown background colour and the chart colour that show it."""

    floor: float
    color: str  # a Streamlit Markdown colour name, used as `:{color}-background[...]`
    hex: str  # the same colour for the Altair chart (Streamlit's own palette)
    label: str


# Five bands rather than a gradient: Markdown only offers named colours, and five are easy to tell apart.
BANDS: tuple[Band, ...] = (
    Band(0.7, "green", "#21c354", "p ≥ 0.7"),
    Band(0.4, "yellow", "#faca2b", "0.4–0.7"),
    Band(0.15, "orange", "#ffa421", "0.15–0.4"),
    Band(0.03, "red", "#ff4b4b", "0.03–0.15"),
    Band(0.0, "violet", "#803df5", "p < 0.03"),
)
NO_P_COLOR = "gray"
EMPTY = "◌"  # a token with no text of its own: the first byte(s) of a character finished by a later token
NEWLINE = "↵"
# An alternative that is only part of a character's bytes decodes to the replacement character.
PARTIAL = "\ufffd"
NO_PROBABILITIES = "This lane has no token probabilities: chat models do not share them. Only the text is shown."

# Whitespace and control characters become visible symbols; a newline also keeps its line break in the view.
_VISIBLE = str.maketrans(
    {
        " ": "·",
        "\t": "→",
        "\n": NEWLINE,
        "\r": "␍",
        "\u00a0": "⍽",  # no-break space: looks like a space, is not one
        **{chr(c): chr(0x2400 + c) for c in range(0x20) if chr(c) not in "\t\n\r"},  # Unicode control pictures
        "\x7f": "␡",
    }
)


def visible(text: str) -> str:
    """A token's text with whitespace and control characters shown as symbols (plain text, not Markdown)."""
    return text.translate(_VISIBLE) if text else EMPTY


# Token text has no real spaces left (they show as `·`), so without this a reply is one long word and the
# browser breaks lines inside tokens; a zero-width space lets it break between them instead.
BREAK = "\u200b"


def band(p: float) -> Band:
    return next(b for b in BANDS if p >= b.floor)


def token_markdown(tokens: Sequence[Token]) -> str:
    """The whole reply as one Markdown paragraph: one coloured span per token, a hard break after each newline.

    Each line starts with a directive, so no token text can start a heading, list or code block, and every
    character inside a span is escaped, so none can close it early.
    """
    parts: list[str] = []
    for token in tokens:
        color = NO_P_COLOR if token.p is None else band(token.p).color
        lines = token.text.split("\n")
        for n, line in enumerate(lines):
            last = n == len(lines) - 1
            shown = visible(line) if line else ""
            if not last:
                shown += NEWLINE
            elif not shown and len(lines) == 1:
                shown = EMPTY
            if shown:
                parts.append(f":{color}-background[{escape_markdown(shown)}]{BREAK}")
            if not last:
                parts.append("\\\n")  # CommonMark hard line break: the reply's own newline, kept
    return "".join(parts)


def legend_markdown() -> str:
    swatches = " ".join(f":{b.color}-background[{escape_markdown(b.label)}]" for b in BANDS)
    return f"{swatches} {EMPTY} part of a character, · space, → tab, {NEWLINE} newline"


def _probability_frame(tokens: Sequence[Token], k: int) -> pd.DataFrame:
    """One row per token for the chart: its index, shown text, probability, band and alternatives."""
    rows: dict[str, list[object]] = {"i": [], "token": [], "p": [], "band": []}
    alt_columns = [f"alternative {j + 1}" for j in range(k)]
    for column in alt_columns:
        rows[column] = []
    for i, token in enumerate(tokens):
        if token.p is None:
            continue
        rows["i"].append(i)
        rows["token"].append(visible(token.text))
        rows["p"].append(token.p)
        rows["band"].append(band(token.p).label)
        for j, column in enumerate(alt_columns):
            rows[column].append(f"{visible(token.top[j].text)}  {token.top[j].p:.3f}" if j < len(token.top) else "")
    return pd.DataFrame(rows)


def probability_chart(tokens: Sequence[Token], picked: int | None = None) -> alt.LayerChart:
    """Probability along the reply; hovering a point shows the token and its alternatives, clicking picks it.

    The picked token is marked by a vertical rule drawn from our own state rather than by the selection, so
    the mark follows the number input too.
    """
    k = max((len(t.top) for t in tokens), default=0)
    data = _probability_frame(tokens, k)
    pick = alt.selection_point(name="pick", fields=["i"], on="click", clear=False)
    # Whole-number ticks: a short reply would otherwise get ticks at token 0.5, 1.5, ...
    x = alt.X("i:Q", title="token #", scale=alt.Scale(nice=False), axis=alt.Axis(tickMinStep=1, format="d"))
    y = alt.Y("p:Q", title="probability", scale=alt.Scale(domain=[0, 1]))
    trace = alt.Chart(data).mark_line(color="#bbbbbb", strokeWidth=1).encode(x=x, y=y)
    points = (
        alt.Chart(data)
        .mark_circle(size=40, opacity=0.9)
        .encode(
            x=x,
            y=y,
            color=alt.Color(
                "band:N",
                scale=alt.Scale(domain=[b.label for b in BANDS], range=[b.hex for b in BANDS]),
                legend=None,
            ),
            tooltip=[
                alt.Tooltip("i:Q", title="token #"),
                alt.Tooltip("token:N"),
                alt.Tooltip("p:Q", format=".3f"),
                *(alt.Tooltip(f"alternative {j + 1}:N") for j in range(k)),
            ],
        )
        .add_params(pick)
    )
    layers: list[alt.Chart] = [trace, points]
    if picked is not None:
        layers.append(alt.Chart(pd.DataFrame({"i": [picked]})).mark_rule(color="#555555").encode(x=x))
    return alt.LayerChart(layer=layers, height=160)


def _pick_from_chart(chart_key: str, pick_key: str) -> None:
    """Runs before the script when a point is clicked: the number input then shows the clicked token."""
    state = st.session_state.get(chart_key)
    points = state.selection.get("pick") if state is not None else None
    if points:
        st.session_state[pick_key] = int(points[0]["i"])


def _current_pick(pick_key: str, n_tokens: int) -> int | None:
    picked = st.session_state.get(pick_key)
    if picked is not None and not 0 <= picked < n_tokens:
        # A reply redrawn under the same key can be shorter than the one this pick belonged to: the chart
        # would mark a token that is not there (the number input, whose range changed, starts empty anyway).
        del st.session_state[pick_key]
        return None
    return None if picked is None else int(picked)


def _alternatives_table(token: Token) -> None:
    frame = pd.DataFrame(
        {
            "token": [visible(token.text)] * len(token.top),
            "alternative": [visible(a.text) for a in token.top],
            "probability": [a.p for a in token.top],
            "": ["← the reply's token" if a.text == token.text else "" for a in token.top],
        }
    )
    st.dataframe(
        frame,
        hide_index=True,
        column_config={
            "probability": st.column_config.ProgressColumn("probability", min_value=0.0, max_value=1.0, format="%.3f")
        },
    )


def _token_details(token: Token, i: int, *, key: str) -> BranchRequest | None:
    """The picked token: its alternatives and a branch button for each one the reply did not take."""
    if token.p is None:
        st.caption(f"Token #{i} has no probabilities.")
        return None
    shown = escape_markdown(visible(token.text))
    st.markdown(f"Token #{i} :{band(token.p).color}-background[{shown}] p {token.p:.3f}")
    if not token.top:
        st.caption("No alternatives were recorded for this token.")
        return None
    covered = sum(a.p for a in token.top)
    st.caption(f"The top {len(token.top)} alternatives hold {covered:.0%} of the probability.")
    _alternatives_table(token)
    if any(PARTIAL in a.text for a in token.top):
        st.caption(f"{PARTIAL} is a piece of a character: branching with it would write a broken character.")
    request: BranchRequest | None = None
    with st.container(horizontal=True):
        for j, alternative in enumerate(token.top):
            if alternative.text == token.text or PARTIAL in alternative.text:
                continue
            label = f"Branch here with ‘{escape_markdown(visible(alternative.text))}’"
            if st.button(label, key=f"{key}-branch-{i}-{j}"):
                request = BranchRequest(at=i, token=alternative.text, p=alternative.p)
    return request


def token_view(tokens: list[Token], *, key: str) -> BranchRequest | None:
    """Draw the token view; return a BranchRequest in the run where the user clicked 'branch here'.

    `key` must be unique on the page: every widget's key is derived from it.
    """
    if not tokens:
        st.caption("No tokens were recorded for this reply.")
        return None
    st.markdown(token_markdown(tokens))
    if all(t.p is None for t in tokens):
        st.caption(NO_PROBABILITIES)
        return None
    st.caption(legend_markdown())

    chart_key, pick_key = f"{key}-chart", f"{key}-pick"
    picked = _current_pick(pick_key, len(tokens))
    st.altair_chart(
        probability_chart(tokens, picked),
        key=chart_key,
        on_select=partial(_pick_from_chart, chart_key, pick_key),
        selection_mode="pick",
        width="stretch",
    )
    surprise_panel(tokens, [visible(t.text) for t in tokens], key=key, pick_key=pick_key)
    i = st.number_input(
        "Token #",
        min_value=0,
        max_value=len(tokens) - 1,
        value=None,
        step=1,
        key=pick_key,
        placeholder="click a point, or type a number",
        help="Pick a token to see the alternatives the model weighed there.",
    )
    if i is None:
        return None
    return _token_details(tokens[i], i, key=key)
