"""Voting on one pair on the Review page: two replies side by side with nothing about who wrote them, the choice by
button or key (1 left, 2 right, 3 tie, 4 both bad, Enter saves), the set's questions and a note; after saving, who
wrote each side, and Enter again for the next pair. Identities only ever reach the page after the vote is saved."""

from __future__ import annotations

from typing import Any

import streamlit as st

from simulator.values import Token
from ui.service.errors import USER_ERRORS
from ui.service.review.service import BlindPair, Revealed, Review, parse_source
from ui.web.widgets.conversations.tokens import legend_markdown, probability_chart, token_markdown
from ui.web.widgets.view import escape_markdown

CHOICES = (("left", "Left", "1"), ("right", "Right", "2"), ("tie", "Tie", "3"), ("bad", "Both bad", "4"))
ANSWER_LABELS = {"left": "Left", "right": "Right", "both": "Both", "neither": "Neither"}
_CHOICE, _REVEALED = "review-choice", "review-revealed"


def _choose(choice: str) -> None:
    st.session_state[_CHOICE] = choice


def _reply(text: str, tokens: list[Token], key: str) -> None:
    with st.container(border=True, key=key):
        st.text(text)
        if tokens and st.toggle("Tokens", key=f"{key}-tokens"):
            st.markdown(token_markdown(tokens))
            if any(t.p is not None for t in tokens):
                st.caption(legend_markdown())
                st.altair_chart(probability_chart(tokens), width="stretch")


def _questions(pair: BlindPair) -> dict[str, str]:
    answers = {}
    for question in pair.questions:
        answer = st.segmented_control(
            escape_markdown(question.text),  # a question set is a shared file: its text is data, not markup
            list(ANSWER_LABELS),
            format_func=ANSWER_LABELS.__getitem__,
            key=f"review-answer-{pair.pair}-{question.key}",
        )
        if answer:
            answers[question.key] = answer
    return answers


def _save(service: Review, pair: BlindPair, reviewer: str, answers: dict[str, str], note: str) -> None:
    try:
        revealed = service.vote(
            pair.pair,
            reviewer=reviewer,
            better=st.session_state[_CHOICE],
            answers=answers,
            note=note,
            question_set=pair.question_set,
        )
    except USER_ERRORS as e:
        st.session_state[_REVEALED] = escape_markdown(str(e))
        return
    st.session_state[_REVEALED] = (revealed, pair)
    st.session_state.pop(_CHOICE, None)


def _who(identity: Any) -> str:
    return escape_markdown(f"{identity.label} — model {identity.model}, mask {identity.mask or 'none'}")


def show_revealed(revealed: Revealed, pair: BlindPair) -> None:
    """The pair just voted on, with who wrote each side; Enter (or the button) loads the next pair."""
    word = {value: label for value, label, _ in CHOICES}[revealed.better]
    st.success(escape_markdown(f"Saved: {word.lower()} (pair {revealed.pair})."))
    left, right = st.columns(2)
    sides = ((left, pair.left, revealed.left, "left"), (right, pair.right, revealed.right, "right"))
    for column, text, identity, side in sides:
        with column, st.container(border=True, key=f"review-revealed-{side}"):
            st.markdown(f"**{side.title()}:** {_who(identity)}")
            st.text(text)
    if st.button("Next pair", key="review-next", shortcut="Enter", type="primary"):
        st.session_state.pop(_REVEALED, None)
        st.rerun()


def vote_on_pairs(service: Review, reviewer: str | None) -> None:
    """The Judge tab: one blind pair after another, each vote signed by `reviewer`."""
    if not reviewer:
        st.info(
            "Type your name in the sidebar's **Reviewer** field to review: votes are signed, and no reviewer sees"
            " a pair twice."
        )
        return
    revealed = st.session_state.get(_REVEALED)
    if isinstance(revealed, tuple):
        show_revealed(*revealed)
        return
    if isinstance(revealed, str):  # the last save failed: say why, then go on
        st.error(revealed)
        st.session_state.pop(_REVEALED, None)
    with st.expander("Pairs from", expanded=False):
        source_text = st.text_input(
            "Source", key="review-source", placeholder="conversation:3, tag:T, lane:LABEL or run:2"
        )
        sets = [s.name for s in service.question_sets()]
        question_set = st.selectbox("Question set", sets, key="review-question-set")
    try:
        queue = service.next_pair(reviewer, parse_source(source_text), question_set or "default")
    except USER_ERRORS as e:
        st.error(escape_markdown(str(e)))
        return
    if queue.pair is None:
        st.success(f"Nothing left to review: you judged {queue.done} of {queue.total} pairs.")
        return
    _pair_form(service, queue.pair, reviewer, queue.done, queue.total)


def _pair_form(service: Review, pair: BlindPair, reviewer: str, done: int, total: int) -> None:
    st.progress(done / total if total else 0.0, text=f"{done + 1} of {total} pairs")
    st.markdown("**Prompt**")
    st.text(pair.prompt)
    left, right = st.columns(2)
    with left:
        st.markdown("**Left**")
        _reply(pair.left, pair.left_tokens, "review-left")
    with right:
        st.markdown("**Right**")
        _reply(pair.right, pair.right_tokens, "review-right")
    st.markdown("**Which is better?**")
    chosen = st.session_state.get(_CHOICE)
    columns = st.columns(len(CHOICES))
    for column, (value, label, key) in zip(columns, CHOICES, strict=True):
        with column:
            st.button(
                f"{label} ({key})",
                key=f"review-choose-{value}",
                shortcut=key,
                on_click=_choose,
                args=(value,),
                type="primary" if chosen == value else "secondary",
                width="stretch",
            )
    answers = _questions(pair)
    note = st.text_input("Note", key=f"review-note-{pair.pair}")
    label = {v: lab for v, lab, _ in CHOICES}.get(chosen or "", "")
    caption = f"Your choice: {label}. Enter saves." if chosen else "Choose with 1, 2, 3 or 4; then Enter saves."
    st.caption(caption)
    if st.button("Save vote", key="review-save", shortcut="Enter", type="primary", disabled=chosen is None):
        _save(service, pair, reviewer, answers, note)
        st.rerun()
