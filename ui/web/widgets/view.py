"""Rendering helpers shared by the pages, so untrusted text (model output, user messages, error messages)
reaches the screen one safe way: plain text, or Markdown with every punctuation character escaped."""

from __future__ import annotations

import re
import string

import streamlit as st

from simulator.events import Reply, Timings
from simulator.values import MAX_GAMMA, SamplingSettings
from ui.service.conversations.lanes import LaneSpec, contrast_of
from ui.service.errors import LaneSpecError
from ui.service.read_models import Lane, SavedMessage
from ui.service.vectors.views import parse_steer

# CommonMark lets any ASCII punctuation be backslash-escaped; escaping all of it also defuses Streamlit's
# own syntax (`:red[...]`, `:material/...:`, `$...$`) and raw HTML, whatever the parser adds next.
_ESCAPES = str.maketrans({c: "\\" + c for c in string.punctuation})


# Escapes do not stop GFM's autolink literals (found in the unescaped text): an invisible word joiner inside
# `://`, after the `@` of an address (a dotted domain follows) and after `www.` keeps a URL or address in
# model output plain text instead of a link. Only there: a lane label such as `base@raw` stays copyable.
_AUTOLINK = re.compile(r"(?<=:)(?=\\/)|(?<=@)(?=[\w-]+\\\.)|(?<=www)(?=\\\.)", re.IGNORECASE)
WORD_JOINER = "\u2060"


def escape_markdown(text: str) -> str:
    """`text` as Markdown that shows literally: no links, images, HTML, emphasis or directives."""
    return _AUTOLINK.sub(WORD_JOINER, text.translate(_ESCAPES))


def caption_for(status: str, timings: Timings, finish_reason: str | None) -> str:
    """One line of Markdown under a reply: numbers and our own words, and the stored finish reason escaped."""
    parts = [escape_markdown(status)]
    if timings.ttft_ms is not None:
        parts.append(f"first token {timings.ttft_ms:,.0f} ms")
    if timings.tokens_per_s is not None:
        parts.append(f"{timings.tokens_per_s:.1f} tok/s")
    # Read back from the database: imports now take only a turn's own words, but older rows may hold anything.
    if finish_reason and finish_reason != status:
        parts.append(f"finish: {escape_markdown(finish_reason)}")
    return " · ".join(parts)


def show_reply(reply: Reply) -> None:
    """A reply as it streams or as it ended: notices, text, then an error or its caption."""
    for notice in reply.notices:
        st.info(escape_markdown(notice))
    if reply.text:
        st.text(reply.text)
    if reply.status == "error":
        st.error(escape_markdown(reply.error or "this lane failed"))
    elif reply.status == "complete":
        if not reply.text.strip():
            st.caption("(empty reply)")
        st.caption(caption_for(reply.status, reply.timings, reply.finish_reason))
    elif reply.error:  # incomplete, and over: stopped
        st.caption(escape_markdown(f"incomplete: {reply.error}"))
    elif not reply.text:
        st.caption("waiting for the first token…")


def show_saved_reply(message: SavedMessage) -> None:
    if message.status == "incomplete":
        # Saved mid-stream and never finished: stopped on purpose (error "stopped"), or the process writing it
        # ended (a killed server or CLI) before it could.
        if message.content:
            st.text(message.content)
        st.caption(escape_markdown(f"incomplete: {message.error or 'the turn was interrupted'}"))
        return
    show_reply(message.as_reply())


# -- lane settings ---------------------------------------------------------------------------------------

OTHER_MODEL = "other: type a litellm model string"
NO_MASK = "(none)"
MAX_SEED = 2**31 - 1


def spec_from_state(prefix: str) -> LaneSpec | None:
    """The lane that the `prefix` widgets describe, from session state; None if they were not drawn.

    Raises:
        LaneSpecError: the steering typed cannot be read (`DIRECTION:ALPHA[:FIRST-LAST]`).
    """
    state = st.session_state
    if f"{prefix}-model" not in state:
        return None
    model = state[f"{prefix}-model"]
    if model == OTHER_MODEL:
        model = str(state.get(f"{prefix}-litellm") or "").strip()
    mask = state[f"{prefix}-mask"]
    seed = state.get(f"{prefix}-seed")
    settings = SamplingSettings(
        temperature=float(state[f"{prefix}-temperature"]),
        max_tokens=int(state[f"{prefix}-max_tokens"]),
        seed=None if seed is None else int(seed),
    )
    against = state.get(f"{prefix}-contrast", NO_MASK)
    contrast = None
    if against != NO_MASK and mask != NO_MASK:
        contrast = contrast_of(against, float(state.get(f"{prefix}-gamma", 1.0)))
    typed = str(state.get(f"{prefix}-steer") or "").strip()
    steer = parse_steer(typed) if typed else None
    return LaneSpec(
        model=model, mask=None if mask == NO_MASK else mask, settings=settings, contrast=contrast, steer=steer
    )


def lane_editor(prefix: str, setup: LaneSpec, model_names: list[str], mask_names: list[str]) -> LaneSpec:
    """Widgets for one lane's model, mask and sampling settings, showing `setup`; returns what they show.

    Each widget's default is the lane's current value rather than a preset in session state: a closed
    popover mounts its widgets only when opened, and would otherwise show (and send back) stale defaults.
    """
    models = [*model_names, OTHER_MODEL]
    masks = [NO_MASK, *mask_names]
    typed = setup.model not in model_names
    choice = st.selectbox(
        "Model",
        models,
        index=models.index(OTHER_MODEL if typed else setup.model),
        key=f"{prefix}-model",
        help="A bundled or configured model, or any litellm model string.",
    )
    if choice == OTHER_MODEL:
        st.text_input(
            "litellm model string",
            value=setup.model if typed else "",
            key=f"{prefix}-litellm",
            placeholder="openai/gpt-4o-mini",
        )
    st.selectbox(
        "Mask",
        masks,
        index=masks.index(setup.mask if setup.mask in mask_names else NO_MASK),
        key=f"{prefix}-mask",
        help="The persona frame; a chat model gets it as a system prompt.",
    )
    _contrast_editor(prefix, setup, masks, mask_names)
    st.text_input(
        "Steer with",
        value=_steer_text(setup),
        key=f"{prefix}-steer",
        placeholder="assistant-axis:-4:6-8",
        help="DIRECTION:ALPHA[:FIRST-LAST]: add a persona direction (simulacra vectors list) α times to the output of"
        " layers FIRST-LAST (default: its best layer). In-process base models only; put the plain mask beside it.",
    )
    s = setup.settings
    st.slider("Temperature", 0.0, 2.0, value=s.temperature, step=0.05, key=f"{prefix}-temperature")
    st.number_input("Max tokens", 1, 4096, value=s.max_tokens, step=1, key=f"{prefix}-max_tokens")
    st.number_input("Seed", 0, MAX_SEED, value=s.seed, step=1, key=f"{prefix}-seed", placeholder="random (recorded)")
    try:
        return spec_from_state(prefix) or setup
    except LaneSpecError as e:  # said here, and again (nothing saved) if the message is sent as it is
        st.error(escape_markdown(str(e)))
        return setup


def _steer_text(setup: LaneSpec) -> str:
    """A lane's steering as the editor shows it: as typed, or a saved lane's (to start a copy of it)."""
    if setup.steer is not None:
        return setup.steer.text
    steering = setup.steering
    if steering is None:
        return ""
    return f"{steering.direction}:{steering.alpha:g}:{steering.first_layer}-{steering.last_layer}"


def _contrast_editor(prefix: str, setup: LaneSpec, masks: list[str], mask_names: list[str]) -> None:
    """A contrast lane's second mask and γ: the lane samples from p_mask^(1+γ) / p_other^γ."""
    other = setup.contrast.mask if setup.contrast is not None else NO_MASK
    st.selectbox(
        "Contrast with",
        masks,
        index=masks.index(other if other in mask_names else NO_MASK),
        key=f"{prefix}-contrast",
        help="A contrast lane (base models in-process): each token is drawn from p_mask^(1+γ) / p_other^γ,"
        " reading both masks' documents in lockstep. Put the plain mask in a lane beside it to compare.",
    )
    gamma = setup.contrast.gamma if setup.contrast is not None else 1.0
    st.number_input("γ (contrast weight)", 0.0, MAX_GAMMA, value=gamma, step=0.5, key=f"{prefix}-gamma")


def sampling_summary(kind: str, settings: SamplingSettings) -> str:
    """A caption under a lane's header: only our own words and numbers, so it is safe as Markdown."""
    seed_text = "random seed" if settings.seed is None else f"seed {settings.seed}"
    return f"{kind} · T {settings.temperature:g} · {settings.max_tokens} tokens · {seed_text}"


def lane_details(lane: Lane) -> str:
    """A saved lane's settings as plain text: they cannot change, or old replies would lose their meaning."""
    s = lane.settings
    lines = [
        f"model: {lane.model}",
        f"kind: {lane.kind}",
        f"mask: {lane.mask_name or '(none)'}",
        *_contrast_lines(lane),
        f"temperature: {s.temperature:g}",
        f"top_p: {s.top_p:g}   top_k: {s.top_k}",
        f"max tokens: {s.max_tokens}",
        f"seed: {'random' if s.seed is None else s.seed}",
    ]
    if s.stop:
        lines.append(f"extra stops: {s.stop!r}")
    if lane.system_prompt:
        lines.append(f"system prompt: {lane.system_prompt}")
    return "\n".join(lines)


def reply_details(reply: SavedMessage, lane: Lane) -> str:
    """Everything behind one reply, as plain text: model, mask, settings, seed, timings, model file."""
    s, timings = lane.settings, reply.timings
    lines = [
        f"reply #{reply.id}",
        f"model: {lane.model}" + (f" (sha256 {reply.model_sha256[:16]}…)" if reply.model_sha256 else ""),
        f"mask: {lane.mask_name or '(none)'}",
        *_contrast_lines(lane),
        f"temperature {s.temperature:g} · top_p {s.top_p:g} · top_k {s.top_k} · max tokens {s.max_tokens}",
        f"seed: {reply.seed if reply.seed is not None else ('—' if s.seed is None else s.seed)}",
        f"status: {reply.status}" + (f" · finish: {reply.finish_reason}" if reply.finish_reason else ""),
    ]
    if timings.ttft_ms is not None:
        lines.append(f"first token: {timings.ttft_ms:,.0f} ms")
    if timings.total_ms is not None:
        lines.append(f"total: {timings.total_ms:,.0f} ms")
    if timings.tokens_per_s is not None:
        lines.append(f"speed: {timings.tokens_per_s:.1f} tokens/s")
    if reply.diverged_at is not None:
        lines.append(f"branched from reply #{reply.diverged_from_id} at token #{reply.diverged_at}")
    if reply.metrics is not None:
        lines += [f"{name.replace('_', ' ')}: {value}" for name, value in reply.metrics.model_dump(mode="json").items()]
    return "\n".join(lines)


def _contrast_lines(lane: Lane) -> list[str]:
    contrast = lane.contrasted
    if contrast is None:
        return []
    return [f"contrasted with: {contrast.mask}, γ {contrast.gamma:g} (samples from p_mask^(1+γ) / p_other^γ)"]
