"""The mask library on the Masks page: search and pick, and the actions that change the user's masks folder
(create, duplicate, delete, import) or take a mask out of it (export). Actions are widget callbacks, which run
before the next rerun, so the page then draws the library as it now is."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from personas.cards.files import MAX_CARD_BYTES, export_card_json, export_card_png
from personas.catalog import delete_user_mask, free_name, is_builtin, mask_to_toml, save_user_mask
from personas.importing import import_into_library
from personas.mask import Mask, MaskError
from ui.web.widgets.view import escape_markdown

DEFAULT = "assistant"
OPEN, REV, NOTICE, PICK, UPLOAD = "masks-open", "masks-rev", "masks-notice", "masks-pick", "masks-upload"
NEW_MASK = Mask(
    name="new-mask",
    shows="",
    frame="The following is a conversation between {user} and {char}.\n\n",
    character_name="Character",
)

state = st.session_state


def open_mask(name: str, notice: tuple[str, str] | None = None) -> None:
    state[OPEN] = name
    state[REV] = int(state.get(REV, 0)) + 1  # fresh editor widgets showing the newly opened mask
    if notice:
        state[NOTICE] = notice


def _picked() -> None:
    open_mask(state[PICK])


def _create(user_dir: Path) -> None:
    _save_new(NEW_MASK.model_copy(update={"name": free_name(NEW_MASK.name, user_dir)}), user_dir, "Created")


def _duplicate(mask: Mask, user_dir: Path) -> None:
    name = free_name(f"{mask.name[:59]}-copy", user_dir)
    _save_new(mask.model_copy(update={"name": name}, deep=True), user_dir, f"Duplicated '{mask.name}' as")


def _save_new(mask: Mask, user_dir: Path, verb: str) -> None:
    try:
        path = save_user_mask(mask, user_dir)
    except MaskError as e:
        state[NOTICE] = ("error", str(e))
        return
    open_mask(mask.name, ("success", f"{verb} '{mask.name}' ({path}). Edit it below and press Save."))


def _delete(name: str, user_dir: Path) -> None:
    try:
        delete_user_mask(name, user_dir)
    except MaskError as e:
        state[NOTICE] = ("error", str(e))
        return
    open_mask(DEFAULT, ("success", f"Deleted '{name}'."))


def _import(user_dir: Path) -> None:
    uploaded = state.get(UPLOAD)
    if uploaded is None:  # the file was removed from the uploader
        return
    try:
        mask, path = import_into_library(uploaded.getvalue(), uploaded.name, user_dir)
    except MaskError as e:
        state[NOTICE] = ("error", f"Not imported: {e}")
        return
    open_mask(mask.name, ("success", f"Imported '{uploaded.name}' as the mask '{mask.name}' ({path})."))


def discard() -> None:
    state[REV] = int(state.get(REV, 0)) + 1


# -- page parts ------------------------------------------------------------------------------------------


def _matches(mask: Mask, query: str) -> bool:
    words = query.casefold().split()
    haystack = " ".join(
        [mask.name, mask.description, mask.shows, mask.character_name, mask.user_name, mask.author, *mask.tags]
    ).casefold()
    return all(word in haystack for word in words)


def library(masks: list[Mask], open_name: str) -> None:
    search, pick = st.columns(2)
    query = search.text_input("Search masks", key="masks-search", placeholder="a name, a tag, or words they show")
    found = [mask for mask in masks if _matches(mask, query)]
    names = [mask.name for mask in found]
    # The open mask stays pickable even when the search hides it, so the picker never disagrees with the editor.
    options = names if open_name in names else [open_name, *names]
    state[PICK] = open_name
    pick.selectbox(
        "Open mask",
        options,
        key=PICK,
        on_change=_picked,
        format_func=lambda name: f"{name} (built-in)" if is_builtin(name) else name,
    )
    if not found:
        st.caption(escape_markdown(f"No mask matches {query!r}."))
        return
    st.dataframe(
        [
            {
                "name": m.name,
                "kind": "built-in" if is_builtin(m.name) else "yours",
                "shows": m.shows,
                "tags": ", ".join(m.tags),
            }
            for m in found
        ],
        hide_index=True,
        width="stretch",
        height=min(38 + 35 * len(found), 300),
    )


def actions(mask: Mask, builtin: bool, user_dir: Path) -> None:
    new, duplicate, delete, import_, export = st.columns(5)
    new.button("New mask", icon=":material/add:", on_click=_create, args=(user_dir,), width="stretch")
    duplicate.button(
        "Duplicate",
        icon=":material/content_copy:",
        on_click=_duplicate,
        args=(mask, user_dir),
        width="stretch",
        help="Built-in masks are read-only: duplicate one to edit your own copy.",
    )
    with delete.popover("Delete", icon=":material/delete:", disabled=builtin, width="stretch"):
        st.caption(escape_markdown(f"Removes {user_dir / (mask.name + '.toml')}. Saved conversations keep their copy."))
        st.button(
            escape_markdown(f"Delete '{mask.name}' for good"),
            key="masks-delete-confirm",
            on_click=_delete,
            args=(mask.name, user_dir),
        )
    with import_.popover("Import", icon=":material/upload:", width="stretch"):
        st.file_uploader(
            "A character card (V1, V2 or V3; JSON or PNG) or a mask TOML file",
            type=["json", "png", "toml"],
            key=UPLOAD,
            on_change=_import,
            args=(user_dir,),
            max_upload_size=MAX_CARD_BYTES // (1024 * 1024),  # the browser refuses a bigger file before sending it
        )
    with export.popover("Export", icon=":material/download:", width="stretch"):
        _exports(mask)


@st.cache_data(max_entries=8, show_spinner=False)
def _png_card(mask_json: str) -> bytes:
    return export_card_png(Mask.model_validate_json(mask_json))


def _exports(mask: Mask) -> None:
    st.caption("The saved mask (press Save first to include edits).")
    st.download_button(
        "Mask file (TOML)",
        mask_to_toml(mask).encode("utf-8"),
        file_name=f"{mask.name}.toml",
        mime="application/toml",
        on_click="ignore",
        key="masks-export-toml",
    )
    st.download_button(
        "Character card (JSON)",
        export_card_json(mask),
        file_name=f"{mask.name}.json",
        mime="application/json",
        on_click="ignore",
        key="masks-export-card-json",
        help="A V2 card, or V3 for a card imported as V3: every field it came with is kept.",
    )
    try:
        png = _png_card(mask.model_dump_json())
    except MaskError as e:
        st.error(escape_markdown(str(e)))
        return
    st.download_button(
        "Character card (PNG)",
        png,
        file_name=f"{mask.name}.png",
        mime="image/png",
        on_click="ignore",
        key="masks-export-card-png",
    )
