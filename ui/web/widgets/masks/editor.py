"""The mask editor: one widget per field with that field's validation errors right under it, so a person sees
which field is wrong while typing rather than one error for the whole file when saving."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import streamlit as st
from pydantic import ValidationError
from streamlit.delta_generator import DeltaGenerator

from personas.catalog import is_builtin
from personas.mask import Mask, field_errors
from ui.web.widgets.view import escape_markdown

# Fields a card import brings that the editor leaves as they are, so an edited card still exports losslessly.
KEPT = ("alternate_greetings", "post_history_instructions", "card", "card_image")
ROLES = ["user", "character"]
_ESCAPE = re.compile(r"\\(.)", re.DOTALL)
_UNESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\"}


@dataclass
class Edited:
    """What the editor's widgets say: the mask (None while a field is invalid) and the problems per field."""

    mask: Mask | None
    errors: dict[str, list[str]] = field(default_factory=dict)


def escape_breaks(text: str) -> str:
    """Line breaks and tabs as `\\n`, `\\t`, `\\r`: they matter in a turn format or stop sequence but would
    be invisible in a text box."""
    return text.replace("\\", "\\\\").replace("\n", "\\n").replace("\t", "\\t").replace("\r", "\\r")


def unescape_breaks(text: str) -> str:
    """The inverse of `escape_breaks`; any other backslash is kept as typed."""
    return _ESCAPE.sub(lambda m: _UNESCAPES.get(m[1], m[0]), text)


def _slot(name: str) -> DeltaGenerator:
    """A keyed box for one field's widget and, below it, its errors."""
    return st.container(key=f"mask-field-{name}")


@dataclass
class _Form:
    """The editor's widgets as they are drawn: what each one holds, and the box under it for its errors."""

    prefix: str  # keys the widgets: a new prefix shows a freshly loaded mask
    off: bool
    values: dict[str, Any] = field(default_factory=dict)
    boxes: dict[str, DeltaGenerator] = field(default_factory=dict)

    def text_input(self, name: str, label: str, value: str, **kwargs: Any) -> None:
        with _slot(name):
            self.values[name] = st.text_input(
                label, value=value, key=f"{self.prefix}-{name}", disabled=self.off, **kwargs
            )
            self.boxes[name] = st.empty()

    def text_area(self, name: str, label: str, value: str, height: int = 100, **kwargs: Any) -> None:
        with _slot(name):
            self.values[name] = st.text_area(
                label, value=value, key=f"{self.prefix}-{name}", disabled=self.off, height=height, **kwargs
            )
            self.boxes[name] = st.empty()


def draw(mask: Mask, prefix: str, *, read_only: bool, taken: set[str]) -> Edited:
    """Draw the editor showing `mask`; return what the widgets now hold, validated.

    `prefix` keys the widgets: a new prefix shows a freshly loaded mask. `taken` are the names of the other
    masks, which a saved mask may not take.
    """
    form = _Form(prefix=prefix, off=read_only)
    _persona_fields(form, mask)
    _turn_fields(form, mask)
    _about_fields(form, mask)
    form.boxes["(mask)"] = st.empty()

    edited = _validate(form.values, mask, taken, read_only)
    for name, problems in edited.errors.items():
        box = form.boxes.get(name, form.boxes["(mask)"])
        box.error(escape_markdown("\n".join(f"{name}: {problem}" for problem in problems)))
    return edited


def _persona_fields(form: _Form, mask: Mask) -> None:
    """Name and summary, then who speaks and the document they speak in: frame, speaker names, example turns."""
    form.text_input("name", "Name", mask.name, help="Lower-case letters, digits, '-', '_' or '.'; also the file name.")
    form.text_input("shows", "What it shows", mask.shows, help="One line: what this mask shows about base models.")
    form.text_area("description", "Description", mask.description, height=68)
    form.text_area(
        "frame",
        "Frame",
        mask.frame,
        height=180,
        help="The document preamble, before any turn. {user} and {char} become the speaker names.",
    )
    names = st.columns(2)
    with names[0]:
        form.text_input("user_name", "User name", mask.user_name)
    with names[1]:
        form.text_input("character_name", "Character name", mask.character_name)
    with _slot("examples"):
        form.values["examples"] = _examples(mask, form.prefix, form.off)
        form.boxes["examples"] = st.empty()


def _turn_fields(form: _Form, mask: Mask) -> None:
    """How the conversation is written and where the model stops, and what a chat lane is told instead."""
    form.text_area("greeting", "Greeting", mask.greeting, height=68, help="The character's first message, if any.")
    form.text_input(
        "turn_format",
        "Turn format",
        escape_breaks(mask.turn_format),
        help="How one turn is written: {name} is the speaker, {text} the message. Write \\n for a line break.",
    )
    form.text_area(
        "stop",
        "Extra stop sequences",
        "\n".join(escape_breaks(s) for s in mask.stop),
        height=68,
        help="One per line; write \\n for a line break inside one. The user's next turn always stops the model.",
    )
    form.text_area(
        "system_prompt",
        "System prompt for chat lanes",
        mask.system_prompt or "",
        height=68,
        help="Empty: a chat lane gets the frame as its system prompt.",
    )


def _about_fields(form: _Form, mask: Mask) -> None:
    """Tags, author and version, and a note on what an imported card keeps that the editor does not show."""
    form.text_input("tags", "Tags", ", ".join(mask.tags), help="Separated by commas.")
    meta = st.columns(2)
    with meta[0]:
        form.text_input("author", "Author", mask.author)
    with meta[1]:
        form.text_input("version", "Version", mask.version)
    if mask.card is not None:
        st.caption(
            "Imported from a character card: its alternate greetings, post-history instructions, character book"
            " and extensions are kept and exported unchanged."
        )


def _examples(mask: Mask, prefix: str, off: bool) -> list[dict[str, str]]:
    """Example turns: a role and a text per row, with buttons to add or drop the last row."""
    count_key = f"{prefix}-examples-count"
    st.session_state.setdefault(count_key, len(mask.examples))
    count = int(st.session_state[count_key])
    st.markdown("**Example turns**")
    turns = []
    for i in range(count):
        given = mask.examples[i] if i < len(mask.examples) else None
        role_col, text_col = st.columns([1, 3])
        role = role_col.selectbox(
            f"Turn {i + 1}",
            ROLES,
            index=ROLES.index(given.role if given else ROLES[i % 2]),
            key=f"{prefix}-example-{i}-role",
            disabled=off,
        )
        text = text_col.text_area(
            f"Text of turn {i + 1}",
            value=given.text if given else "",
            key=f"{prefix}-example-{i}-text",
            disabled=off,
            height=68,
            label_visibility="collapsed",
        )
        turns.append({"role": role, "text": text})
    if not off:
        add, drop = st.columns(2)
        add.button("Add example turn", key=f"{prefix}-examples-add", on_click=_count, args=(count_key, 1))
        drop.button(
            "Remove last turn", key=f"{prefix}-examples-drop", on_click=_count, args=(count_key, -1), disabled=not count
        )
    return turns


def _count(key: str, step: int) -> None:
    st.session_state[key] = max(0, int(st.session_state[key]) + step)


def _validate(values: dict[str, Any], base: Mask, taken: set[str], read_only: bool) -> Edited:
    system_prompt = str(values["system_prompt"])
    data: dict[str, Any] = {
        **values,
        "turn_format": unescape_breaks(values["turn_format"]),
        # Split on "\n" only: a stop sequence may hold any other character that splitlines() would cut at.
        "stop": [unescape_breaks(line) for line in str(values["stop"]).replace("\r\n", "\n").split("\n") if line],
        "system_prompt": system_prompt if system_prompt.strip() else None,
        "tags": [tag.strip() for tag in str(values["tags"]).split(",") if tag.strip()],
        **{name: getattr(base, name) for name in KEPT},
    }
    try:
        mask: Mask | None = Mask.model_validate(data)
        errors: dict[str, list[str]] = {}
    except ValidationError as e:
        mask, errors = None, field_errors(e)
    name = str(values["name"])
    if not read_only and name in taken:
        taken_by = "a built-in mask" if is_builtin(name) else "another of your masks"
        errors.setdefault("name", []).append(f"'{name}' is already the name of {taken_by}; pick another")
    return Edited(mask=mask, errors=errors)
