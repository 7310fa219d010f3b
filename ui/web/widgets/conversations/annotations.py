"""Annotations on a reply or a conversation: suggested and free tags, a rating and a note, saved the moment
the user presses Save, and editable or deletable afterwards. Everything the user typed is shown as text."""

from __future__ import annotations

import streamlit as st

from ui.service.errors import USER_ERRORS
from ui.service.read_models import Annotation, SavedMessage
from ui.service.transcripts.service import Transcripts
from ui.web.widgets.reviewer import current_reviewer
from ui.web.widgets.view import escape_markdown

SUGGESTED_TAGS = ("in-character", "broke-character", "refused", "hallucinated", "self-report", "interesting")
RATINGS = {"−1": -1, "0": 0, "+1": 1}
RATING_LABELS = {value: label for label, value in RATINGS.items()}
NO_RATING = "none"


def free_tags(text: str) -> list[str]:
    """Comma-separated tags as typed, trimmed, empty ones and repeats dropped."""
    return list(dict.fromkeys(tag.strip() for tag in text.split(",") if tag.strip()))


def badges(annotation: Annotation) -> str:
    """Who wrote it, tags and rating as Markdown badges; the text is escaped, so a name or tag can never become
    markup."""
    parts = [f":violet-badge[:material/person: {escape_markdown(annotation.reviewer)}]"] if annotation.reviewer else []
    parts += [f":blue-badge[{escape_markdown(tag)}]" for tag in annotation.tags]
    if annotation.rating is not None:
        colour = {1: "green", -1: "red"}.get(annotation.rating, "gray")
        parts.append(f":{colour}-badge[rating {RATING_LABELS.get(annotation.rating, annotation.rating)}]")
    return " ".join(parts)


def show_annotations(annotations: list[Annotation]) -> None:
    """What reviewers wrote about a reply, under it, each with its reviewer's name."""
    for annotation in annotations:
        if line := badges(annotation):
            st.markdown(line)
        if annotation.note:
            st.caption(escape_markdown(annotation.note))


def _form(
    transcripts: Transcripts,
    key: str,
    *,
    message_id: int,
    known_tags: list[str],
    existing: Annotation | None = None,
) -> None:
    options = list(dict.fromkeys([*SUGGESTED_TAGS, *known_tags, *(existing.tags if existing else [])]))
    with st.form(key, border=existing is not None, enter_to_submit=False):
        st.multiselect("Tags", options, default=existing.tags if existing else [], key=f"{key}-tags")
        st.text_input("Other tags", key=f"{key}-free", placeholder="comma-separated")
        ratings = [NO_RATING, *RATINGS]
        current = RATING_LABELS.get(existing.rating, NO_RATING) if existing and existing.rating is not None else None
        st.radio("Rating", ratings, index=ratings.index(current or NO_RATING), horizontal=True, key=f"{key}-rating")
        st.text_area("Note", value=existing.note if existing else "", key=f"{key}-note")
        # Saved in the button's callback: the only moment the form's fields may be emptied again (see _submit).
        st.form_submit_button(
            "Save" if existing else "Add annotation", on_click=_submit, args=(transcripts, key, message_id, existing)
        )
    problem = st.session_state.pop(f"{key}-problem", None)
    if problem is not None:
        kind, markdown = problem
        (st.warning if kind == "warning" else st.error)(markdown)


def _submit(transcripts: Transcripts, key: str, message_id: int, existing: Annotation | None) -> None:
    """Save what the form holds; a new annotation's form is then emptied, so pressing Save again cannot add
    the same annotation twice (an edited one keeps showing what was saved)."""
    state = st.session_state
    values = {
        "tags": [*state.get(f"{key}-tags", []), *free_tags(str(state.get(f"{key}-free", "")))],
        "rating": RATINGS.get(str(state.get(f"{key}-rating"))),
        "note": str(state.get(f"{key}-note", "")).strip(),
        "reviewer": current_reviewer(),
    }
    if not values["tags"] and values["rating"] is None and not values["note"]:
        state[f"{key}-problem"] = ("warning", "Pick a tag, a rating or write a note first.")
        return
    try:
        if existing is not None and existing.id is not None:
            transcripts.update_annotation(existing.id, **values)  # type: ignore[arg-type]
        else:
            transcripts.annotate(message_id=message_id, **values)  # type: ignore[arg-type]
    except USER_ERRORS as e:  # the reply or the annotation was deleted meanwhile
        state[f"{key}-problem"] = ("error", escape_markdown(f"Not saved: {e}"))
        return
    if existing is None:
        state[f"{key}-tags"], state[f"{key}-free"], state[f"{key}-rating"], state[f"{key}-note"] = [], "", NO_RATING, ""


def _delete(transcripts: Transcripts, annotation_id: int) -> None:
    try:
        transcripts.delete_annotation(annotation_id)
    except USER_ERRORS:
        pass  # already gone: the rerun shows the annotations as they are


def annotation_editor(transcripts: Transcripts, *, key: str, message: SavedMessage, known_tags: list[str]) -> None:
    """Add an annotation to a reply, or edit or delete the ones there; every change is saved when its button
    is pressed."""
    message_id = message.id
    for annotation in message.annotations:
        assert annotation.id is not None
        with st.container(border=True):
            show_annotations([annotation])
            edit, delete = st.columns(2)
            editing = edit.toggle("Edit", key=f"{key}-edit-{annotation.id}")
            delete.button(
                "Delete",
                key=f"{key}-delete-{annotation.id}",
                icon=":material/delete:",
                on_click=_delete,
                args=(transcripts, annotation.id),
            )
            if editing:
                _form(
                    transcripts,
                    f"{key}-form-{annotation.id}",
                    message_id=message_id,
                    known_tags=known_tags,
                    existing=annotation,
                )
    _form(transcripts, f"{key}-new", message_id=message_id, known_tags=known_tags)
