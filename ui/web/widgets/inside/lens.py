"""The logit lens under the token view: for the picked token, each layer's top tokens as a table (model output
in table cells, which Streamlit shows as text), early layers marked unreliable."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from ui.service.errors import USER_ERRORS
from ui.service.inside.lens import Lenses, LensView
from ui.web.widgets.inside.tree import visible


def lens_frame(view: LensView) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "layer": [layer.layer for layer in view.layers],
            "its top tokens": ["  ".join(f"{visible(t)} {p:.2f}" for t, p in layer.top) for layer in view.layers],
            "rank of the token written": [layer.actual_rank for layer in view.layers],
            "its p": [layer.actual_p for layer in view.layers],
            "": ["early layer: unreliable" if layer.unreliable else "" for layer in view.layers],
        }
    )


def lens_panel(lenses: Lenses, message_id: int, at: int | None, *, key: str) -> None:
    """A 'Logit lens' button for the picked token `at` of reply `message_id`, and its last result."""
    if at is None:
        return
    result_key = f"{key}-result"
    view: LensView | str | None = st.session_state.get(result_key)
    if isinstance(view, LensView) and (view.message_id != message_id or view.index != at):
        view = None
    if st.button("Logit lens", key=f"{key}-go", help="What each layer would have predicted for this token"):
        try:
            with st.spinner("Reading every layer…"):
                view = lenses.for_reply(message_id, at)
        except USER_ERRORS as e:
            view = str(e)
        st.session_state[result_key] = view
    if isinstance(view, str):
        st.error(view)
    elif view is not None:
        st.caption(
            f"Token #{view.index} ‘{visible(view.actual)}’ as each layer would have predicted it: the layer's residual"
            " through the model's final norm and output matrix. Layers below a third of the depth read unreliably."
        )
        st.dataframe(
            lens_frame(view),
            hide_index=True,
            column_config={
                "its p": st.column_config.ProgressColumn("its p", min_value=0.0, max_value=1.0, format="%.3f")
            },
        )
