"""The steering slider on Compare: pick a stored direction, a strength x and a base model and mask, and add three
steered lanes `MODEL@MASK^DIRECTION:-x`, `:0` and `:x` that share one seed, so the next message is answered under
α = −x, 0 and +x side by side (the α = 0 lane is the unsteered lane, which the same seed reproduces exactly)."""

from __future__ import annotations

from collections.abc import Callable

import streamlit as st

from simulator.values import SamplingSettings
from ui.service.conversations.service import LaneSpec, parse_lane_spec
from ui.service.errors import USER_ERRORS
from ui.web import resources
from ui.web.widgets.inside.drift import directions_or_how_to_make_one, turn_direction_picker
from ui.web.widgets.view import MAX_SEED, escape_markdown

MAX_STRENGTH, STEP = 16.0, 0.5
LANES = 3  # −x, 0 and +x


def steered_specs(model: str, mask: str, direction: str, x: float, settings: SamplingSettings) -> list[LaneSpec]:
    """The −x, 0 and +x lanes, in that order, each with `settings` (one seed for all three).

    Raises:
        LaneSpecError: a lane that cannot be read (an unknown direction is named when the lane is saved).
    """
    return [parse_lane_spec(f"{model}@{mask}^{direction}:{alpha:g}", settings) for alpha in (-x, 0.0, x)]


def steering_controls(
    add: Callable[[list[LaneSpec]], None], free: int, settings: SamplingSettings, *, key: str = "steer"
) -> None:
    """The pickers and the button that calls `add` with the three lanes; `free` is how many more lanes fit."""
    found = directions_or_how_to_make_one(key=key)
    if not found:
        return
    workspace = resources.workspace()
    models = [status.name for status in workspace.model_statuses() if status.kind == "simulator"]
    masks = [mask.name for mask in workspace.masks()]
    direction = st.selectbox("Direction", [view.name for view in found], key=f"{key}-direction")
    x = st.slider("Strength x", STEP, MAX_STRENGTH, value=1.0, step=STEP, key=f"{key}-x")
    model = st.selectbox("Base model", models, key=f"{key}-model")
    mask = st.selectbox("Mask", masks, index=masks.index("assistant") if "assistant" in masks else 0, key=f"{key}-mask")
    seed = st.number_input("Seed (all three lanes)", 0, MAX_SEED, value=1, step=1, key=f"{key}-seed")
    st.caption(
        escape_markdown(
            f"Adds {model}@{mask} steered along {direction} at α = −{x:g}, 0 and +{x:g} (its best layer), all with"
            f" seed {seed}: the α = 0 lane writes what an unsteered {model}@{mask} lane with seed {seed} writes."
        )
    )
    label = f"Add −{x:g} / 0 / +{x:g} lanes"
    if st.button(label, key=f"{key}-add", type="primary", disabled=model is None or free < LANES):
        try:
            add(
                steered_specs(
                    str(model), str(mask), str(direction), float(x), settings.model_copy(update={"seed": seed})
                )
            )
        except USER_ERRORS as e:
            st.error(escape_markdown(str(e)))
        else:
            st.rerun()
    if free < LANES:
        st.caption(f"The three lanes need {LANES} free places; {free} left of the page's lanes.")


def directions_popover(
    add: Callable[[list[LaneSpec]], None], free: int, settings: SamplingSettings, *, per_turn: bool
) -> None:
    """Compare's "Directions" popover: the drift shown per turn (in a conversation) and the steering slider."""
    with st.popover("Directions", icon=":material/explore:", width="stretch", key="directions-open"):
        if per_turn:
            turn_direction_picker()
            st.divider()
        st.caption("Steer: the next message at α = −x, 0 and +x side by side.")
        steering_controls(add, free, settings)
