"""The Masks page: the library (search, create, duplicate, delete, import and export), an editor, and what a
mask really does ("lift the mask"): the exact document a simulator continues, next to the messages a chat
lane gets, and one turn to try it."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from personas.catalog import delete_user_mask, is_builtin, save_user_mask, user_mask_problems
from personas.mask import Mask, MaskError
from ui.web import resources
from ui.web.widgets.masks import editor as mask_editor
from ui.web.widgets.masks import library as mask_library
from ui.web.widgets.masks import preview as mask_preview
from ui.web.widgets.masks.library import DEFAULT, NOTICE, OPEN, REV
from ui.web.widgets.view import escape_markdown

state = st.session_state


def _save(edited: mask_editor.Edited, open_name: str, user_dir: Path) -> None:
    """Write the edited mask (renaming its file if its name changed); nothing is written while a field is wrong."""
    if edited.mask is None or edited.errors:
        st.error("Not saved: fix the fields marked above.")
        return
    try:
        save_user_mask(edited.mask, user_dir)
        if edited.mask.name != open_name:
            delete_user_mask(open_name, user_dir)
    except MaskError as e:
        st.error(escape_markdown(f"Not saved: {e}"))
        return
    mask_library.open_mask(edited.mask.name, ("success", f"Saved '{edited.mask.name}'."))
    st.rerun()


def _editor(mask: Mask, builtin: bool, taken: set[str], user_dir: Path) -> mask_editor.Edited:
    st.markdown("**Editor**")
    if builtin:
        st.info("Built-in masks are read-only. Press Duplicate to edit a copy of this one.", icon=":material/lock:")
    edited = mask_editor.draw(mask, f"mask-edit-{state.get(REV, 0)}", read_only=builtin, taken=taken)
    if builtin:
        return edited
    changed = edited.mask is None or edited.mask != mask
    save, discard = st.columns(2)
    if save.button("Save", type="primary", icon=":material/save:", key="masks-save", width="stretch"):
        _save(edited, mask.name, user_dir)
    discard.button(
        "Discard changes", key="masks-discard", on_click=mask_library.discard, disabled=not changed, width="stretch"
    )
    if changed:
        st.caption("Unsaved changes: the preview shows them, the library and the lanes do not yet.")
    return edited


def render() -> None:
    current = resources.settings()
    user_dir = current.resolved_masks_dir
    masks = resources.masks(current)
    by_name = {mask.name: mask for mask in masks}
    if state.get(OPEN) not in by_name:
        state[OPEN] = DEFAULT if DEFAULT in by_name else masks[0].name
    open_name: str = state[OPEN]
    mask = by_name[open_name]
    builtin = is_builtin(open_name)

    st.title("Masks")
    st.caption(escape_markdown(f"Built-in masks, then your own from {user_dir}"))
    if notice := state.pop(NOTICE, None):
        kind, text = notice
        (st.success if kind == "success" else st.error)(escape_markdown(text))
    for problem in user_mask_problems(user_dir):
        st.warning(escape_markdown(str(problem)))
    mask_library.library(masks, open_name)
    mask_library.actions(mask, builtin, user_dir)

    st.subheader("Lift the mask")
    history = mask_preview.choose_history(current, open_name)
    editor_col, document_col, chat_col = st.columns([5, 5, 4])
    with editor_col:
        edited = _editor(mask, builtin, set(by_name) - {open_name}, user_dir)
    shown = edited.mask
    with document_col:
        if shown is None:
            st.info("Fix the fields marked in the editor to see the document.")
        else:
            mask_preview.show_document(shown, history)
    with chat_col:
        if shown is not None:
            mask_preview.show_messages(shown, history)
    mask_preview.try_it(current, shown, history)


render()
