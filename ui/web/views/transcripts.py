"""The Transcripts page: find a saved conversation again (full-text search, filters, sort, pages), open it with its
lanes side by side, edit its title and notes, download it in every export format, or import one."""

from __future__ import annotations

import functools
import math
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import streamlit as st

from ui.service.errors import USER_ERRORS, NotFound
from ui.service.read_models import SearchFilters, SearchHit
from ui.service.settings import Settings
from ui.service.transcripts.exports import DOWNLOADS
from ui.service.transcripts.service import MARK, Query, SearchSort, Transcripts
from ui.web import resources
from ui.web.widgets.conversations.annotations import RATINGS
from ui.web.widgets.conversations.lane_grid import show_conversation
from ui.web.widgets.view import escape_markdown

PAGE_SIZE = 20
COMPARE_PAGE = "views/compare.py"
ANY = "any"
SORTS: dict[str, SearchSort] = {"Newest": "newest", "Most annotated": "most_annotated"}

# Session state that is not a widget's: the open conversation, the results page, the import's outcome.
OPEN = "transcripts_open"
PAGE = "transcripts_page"
IMPORT_ROUND = "transcripts_import_round"
IMPORT_ERROR = "transcripts_import_error"
ADDRESS_READ = "transcripts_address_read"

state = st.session_state


def snippet_markdown(snippet: str) -> str:
    """A search snippet as safe Markdown: every part escaped, bold only around the words storage marked."""
    parts = snippet.split(MARK)
    out = []
    for i, part in enumerate(parts):
        if i % 2 == 0:
            out.append(escape_markdown(part))
        elif i == len(parts) - 1:  # an opening mark that nothing closes: shown as typed
            out.append(escape_markdown(MARK + part))
        elif part.strip():
            out.append(f"**{escape_markdown(part)}**")
        else:
            out.append(escape_markdown(part))  # bold around blanks would show its stars
    return "".join(out)


def date_range(days: tuple[date, ...] | list[date] | date | None) -> tuple[datetime | None, datetime | None]:
    """The date picker's range as [since, until) in UTC: whole days, the end day included."""
    if days is None:
        return None, None
    picked = [days] if isinstance(days, date) else list(days)
    since = datetime.combine(picked[0], time.min, UTC) if picked else None
    until = datetime.combine(picked[-1] + timedelta(days=1), time.min, UTC) if picked else None
    return since, until


# -- search controls (sidebar) ---------------------------------------------------------------------------


def _new_search() -> None:
    # A changed search shows its results from the first page, even if a conversation was open.
    state[PAGE] = 0
    state[OPEN] = None


def _turn_page(step: int) -> None:
    state[PAGE] = max(0, int(state.get(PAGE, 0)) + step)


def _chosen(value: str) -> str | None:
    return None if value == ANY else value


def _search_controls(options: SearchFilters) -> tuple[Query, SearchSort]:
    # persist_state: the search is still there after a visit to another page.
    common: dict[str, Any] = {"on_change": _new_search, "persist_state": "session"}
    text = st.text_input("Search", key="tr-query", placeholder="words in replies, notes or titles", **common)
    tag = st.selectbox("Tag", [ANY, *options.tags], key="tr-tag", **common)
    rating = st.radio("Rating", [ANY, *RATINGS], key="tr-rating", horizontal=True, **common)
    model = st.selectbox("Model", [ANY, *options.models], key="tr-model", **common)
    mask = st.selectbox("Mask", [ANY, *options.masks], key="tr-mask", **common)
    days = st.date_input(
        "Updated between", value=[], key="tr-dates", help="Dates in UTC, both days included.", **common
    )
    sort = st.radio("Sort", list(SORTS), key="tr-sort", horizontal=True, **common)
    since, until = date_range(days)
    query = Query(
        query=text,
        tag=_chosen(tag),
        rating=None if rating == ANY else RATINGS[rating],
        model=_chosen(model),
        mask=_chosen(mask),
        since=since,
        until=until,
    )
    return query, SORTS[sort]


# -- import (sidebar) ------------------------------------------------------------------------------------


def _import_control(transcripts: Transcripts) -> None:
    # A new key after each attempt empties the uploader, so a rerun never imports the same file twice.
    key = f"tr-import-{state.get(IMPORT_ROUND, 0)}"
    megabytes, rows = transcripts.import_limits()
    st.file_uploader(
        "Import JSON",
        type=["json"],
        key=key,
        on_change=_import,
        args=(transcripts, key),
        help=f"A conversation exported as JSON (`simulacra export ID`), up to {megabytes} MB and {rows:,} rows.",
        max_upload_size=megabytes,  # the browser refuses a bigger file before sending it
    )


def _import(transcripts: Transcripts, key: str) -> None:
    upload = state.get(key)
    if upload is None:
        return
    try:
        state[OPEN] = transcripts.import_bytes(upload.getvalue(), upload.name)
    except USER_ERRORS as e:
        state[IMPORT_ERROR] = str(e)
    else:
        st.toast(f"Imported as conversation #{state[OPEN]}")
    state[IMPORT_ROUND] = int(state.get(IMPORT_ROUND, 0)) + 1


# -- results ---------------------------------------------------------------------------------------------


def _open(conversation_id: int) -> None:
    state[OPEN] = conversation_id


def _close() -> None:
    state[OPEN] = None


def _hit(hit: SearchHit) -> None:
    cid = hit.conversation_id
    with st.container(border=True, key=f"tr-hit-{cid}"):
        text, action = st.columns([6, 1], vertical_alignment="center")
        text.markdown(f"**{escape_markdown(hit.title or 'Untitled conversation')}**")
        notes = "1 annotation" if hit.annotation_count == 1 else f"{hit.annotation_count} annotations"
        text.caption(f"#{cid} · updated {hit.updated_at:%Y-%m-%d %H:%M} UTC · {notes}")
        if hit.snippet:
            text.markdown(snippet_markdown(hit.snippet))
        action.button("Open", key=f"tr-open-{cid}", on_click=_open, args=(cid,))


def _pager(page: int, pages: int) -> None:
    back, where, forward = st.columns([1, 2, 1], vertical_alignment="center")
    back.button("‹ Previous", key="tr-prev", disabled=page == 0, on_click=_turn_page, args=(-1,))
    where.caption(f"Page {page + 1} of {pages}")
    forward.button("Next ›", key="tr-next", disabled=page >= pages - 1, on_click=_turn_page, args=(1,))


def _results(transcripts: Transcripts, query: Query, sort: SearchSort) -> None:
    total = transcripts.count(query)
    pages = max(1, math.ceil(total / PAGE_SIZE))
    page = min(int(state.get(PAGE, 0)), pages - 1)  # the results may have shrunk since
    hits = transcripts.search(query, sort=sort, limit=PAGE_SIZE, offset=page * PAGE_SIZE)
    filtered = query != Query()
    if total == 0:
        st.info(
            "No conversation matches."
            if filtered
            else "No conversations yet: start one on the Compare page, or import a JSON export."
        )
        return
    st.caption(f"{total} conversation{'s' if total != 1 else ''}")
    for hit in hits:
        _hit(hit)
    if pages > 1:
        _pager(page, pages)


# -- one conversation ------------------------------------------------------------------------------------


def _save(transcripts: Transcripts, conversation_id: int, field: str) -> None:
    value = str(state[f"tr-{field}-{conversation_id}"])
    try:
        if field == "title":
            transcripts.rename(conversation_id, value)
        else:
            transcripts.set_notes(conversation_id, value)
    except USER_ERRORS as e:
        st.toast(escape_markdown(f"Not saved: {e}"))
        return
    st.toast(f"{field.capitalize()} saved")


def _downloads(transcripts: Transcripts, conversation_id: int) -> None:
    for (fmt, (label, mime, about)), column in zip(DOWNLOADS.items(), st.columns(len(DOWNLOADS)), strict=True):
        column.download_button(
            label,
            # Runs only when the button is pressed (a deferred download), so rereading the page exports nothing.
            data=functools.partial(transcripts.export, [conversation_id], fmt),
            file_name=f"conversation-{conversation_id}.{fmt if fmt != 'dpo' else 'dpo.jsonl'}",
            mime=mime,
            key=f"tr-download-{fmt}",
            help=about,
            icon=":material/download:",
            on_click="ignore",
        )
    # An empty file explains nothing: say why next to its button (a new conversation has no ratings yet).
    if (reason := transcripts.empty_because([conversation_id], "dpo")) is not None:
        st.caption(escape_markdown(reason[:1].upper() + reason[1:] + "."))


def _conversation(current: Settings, transcripts: Transcripts, conversation_id: int) -> None:
    try:
        conversation = transcripts.conversation(conversation_id)
    except NotFound:
        st.warning(f"Conversation #{conversation_id} no longer exists.")
        _close()
        return
    back, _, go = st.columns([1, 3, 1])
    back.button("‹ Back to results", key="tr-back", on_click=_close)
    if go.button("Continue in Compare", key="tr-continue", icon=":material/forum:"):
        state["conversation_id"] = conversation_id
        st.switch_page(COMPARE_PAGE)
    st.text_input(
        "Title",
        value=conversation.title,
        key=f"tr-title-{conversation_id}",
        on_change=_save,
        args=(transcripts, conversation_id, "title"),
    )
    st.text_area(
        "Notes",
        value=conversation.notes,
        key=f"tr-notes-{conversation_id}",
        height=80,
        on_change=_save,
        args=(transcripts, conversation_id, "notes"),
        placeholder="What this conversation shows",
    )
    _downloads(transcripts, conversation_id)
    st.divider()
    show_conversation(resources.conversations(current), transcripts, conversation_id, key="tr-")


def _read_the_address() -> None:
    """`?conversation=ID` opens that conversation: a link to a transcript (an experiment's sample, one sent to a
    colleague) and a reload both land on it. Read once per browser session (a reload starts a new one), so
    "Back to results" is not undone by the old address."""
    if state.get(ADDRESS_READ):
        return
    state[ADDRESS_READ] = True
    wanted = st.query_params.get("conversation")
    if state.get(OPEN) is None and wanted and wanted.isdigit():
        state[OPEN] = int(wanted)


def _write_the_address() -> None:
    if state.get(OPEN) is None:
        st.query_params.pop("conversation", None)
    else:
        st.query_params["conversation"] = str(state[OPEN])


def render() -> None:
    current = resources.settings()
    transcripts = resources.transcripts(current)
    _read_the_address()
    with st.sidebar:
        query, sort = _search_controls(transcripts.filters())
        _import_control(transcripts)
    if (error := state.pop(IMPORT_ERROR, None)) is not None:
        st.error(escape_markdown(f"Import failed: {error}"))
    opened = state.get(OPEN)
    if opened is None:
        _results(transcripts, query, sort)
    else:
        _conversation(current, transcripts, int(opened))
    _write_the_address()


render()
