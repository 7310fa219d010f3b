"""What `simulacra ui` serves: app.py as a Streamlit ASGI app, so that Streamlit's own HTTP routes can be
gated. /_stcore/metrics answers anyone, before the password (sessions, cache sizes), and Streamlit has no option
to turn it off or put it behind a sign-in: it answers 404 here. `streamlit run` finds `app` in this file."""

from __future__ import annotations

from pathlib import Path

import streamlit as st
from starlette.middleware import Middleware
from starlette.types import ASGIApp, Receive, Scope, Send

_HIDDEN = ("/_stcore/metrics",)  # under any base URL path, with or without a trailing slash


class HiddenRoutes:
    """ASGI middleware: 404 for the routes in _HIDDEN, before Streamlit sees the request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = str(scope.get("path", "")).rstrip("/")
        if scope["type"] == "http" and path.endswith(_HIDDEN):
            await send({"type": "http.response.start", "status": 404, "headers": [(b"content-type", b"text/plain")]})
            await send({"type": "http.response.body", "body": b"Not found"})
            return
        await self.app(scope, receive, send)


app = st.App(Path(__file__).with_name("app.py"), middleware=[Middleware(HiddenRoutes)])
