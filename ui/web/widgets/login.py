"""The password gate: with SIMULACRA_PASSWORD set, every new browser session gives it before the app draws
anything else. The password is compared in constant time and kept nowhere: the session only remembers a keyed
digest of the one it matched, so changing the password signs every session out."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time

import streamlit as st
from pydantic import SecretStr

from ui.service.access import password_matches

_SIGNED_IN = "simulacra-signed-in"
_WRONG_DELAY_S = 0.5  # slows guessing from one session; the comparison itself is constant-time


@st.cache_resource(show_spinner=False)
def _process_key() -> bytes:
    # Random per server process: the digest in a session means nothing outside it, nor after a restart.
    return secrets.token_bytes(32)


def _digest(password: SecretStr) -> str:
    return hmac.new(_process_key(), password.get_secret_value().encode("utf-8"), hashlib.sha256).hexdigest()


def signed_in(password: SecretStr | None) -> bool:
    """True when the session may see the app: no password is set, or it was given. Otherwise draws the sign-in
    form (and nothing else) and returns False; the caller then stops the run."""
    if password is None:
        return True
    if hmac.compare_digest(st.session_state.get(_SIGNED_IN, ""), _digest(password)):
        return True
    st.title("Simulacra")
    with st.form("login", enter_to_submit=True):
        given = st.text_input("Password", type="password", key="login-password")
        submitted = st.form_submit_button("Sign in", type="primary")
    if not submitted:
        return False
    if password_matches(given, password):
        st.session_state[_SIGNED_IN] = _digest(password)
        st.rerun()
    time.sleep(_WRONG_DELAY_S)
    st.error("Wrong password.")
    return False
