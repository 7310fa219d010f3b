"""The password gate: with SIMULACRA_PASSWORD set, every new browser session gives it before the app draws
anything else. The password is compared in constant time and kept nowhere: the session only remembers a keyed
digest of the one it matched, so changing the password signs every session out. Wrong passwords make the next
try wait, per client address and across the server (ui.service.lockout)."""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets

import streamlit as st
from pydantic import SecretStr

from ui.service.access import password_matches
from ui.service.lockout import SignInBackoff

_SIGNED_IN = "simulacra-signed-in"
_LOCAL = "this machine"


@st.cache_resource(show_spinner=False)
def _process_key() -> bytes:
    # Random per server process: the digest in a session means nothing outside it, nor after a restart.
    return secrets.token_bytes(32)


@st.cache_resource(show_spinner=False)
def _backoff(password_digest: str) -> SignInBackoff:
    # One per server process and password: every session shares it, and a new password starts a new count.
    return SignInBackoff()


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
    backoff, address = _backoff(_digest(password)), _client_address()
    if backoff.wait_s(address) > 0:
        # Not even compared: the right password sent too early is refused too, or waiting would not slow guessing.
        st.error(f"Too many wrong passwords: try again in {_seconds(backoff.failed(address))}.")
        return False
    if password_matches(given, password):
        backoff.succeeded(address)
        st.session_state[_SIGNED_IN] = _digest(password)
        st.rerun()
    wait = backoff.failed(address)
    st.error("Wrong password." + (f" Try again in {_seconds(wait)}." if wait > 0 else ""))
    return False


def _client_address() -> str:
    address = st.context.ip_address
    # None for 127.0.0.1 and ::1; anything but a string (AppTest hands out a new stand-in object on every run)
    # would give each attempt an address of its own, never slowed.
    return address if isinstance(address, str) and address else _LOCAL


def _seconds(wait: float) -> str:
    return f"{math.ceil(wait)} s"
