# Guessing the password (issue 18): wrong passwords make the next try wait, across browser sessions, so new
# sessions no longer guess for free; and Streamlit's /_stcore/metrics, which answered anyone before sign-in,
# answers nothing on the real `simulacra ui`.

from __future__ import annotations

import re
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

PASSWORD = "otters-hold-hands-77"  # this module's own: the waits it runs up belong to this password only
APP = Path(__file__).resolve().parents[2] / "ui" / "web" / "app.py"


@pytest.fixture(autouse=True)
def password(monkeypatch: pytest.MonkeyPatch, data_dir: Path) -> str:
    monkeypatch.setenv("SIMULACRA_PASSWORD", PASSWORD)
    return PASSWORD


def _session() -> AppTest:
    """A new browser session on the same server process (AppTest shares the process's caches)."""
    return AppTest.from_file(str(APP), default_timeout=60).run()


def _sign_in(at: AppTest, given: str) -> str:
    at.text_input(key="login-password").set_value(given)
    at.button[0].click().run()
    assert not at.exception
    return " ".join(e.value for e in at.error)


def test_the_51st_wrong_password_in_a_minute_from_new_sessions_waits_at_least_30_s() -> None:
    said = []
    for session in range(5):  # a new session every 10 guesses: that used to cost nothing
        at = _session()
        said += [_sign_in(at, f"guess-{session}-{n}") for n in range(10)]
    assert said[:3] == ["Wrong password.", "Wrong password.", "Wrong password. Try again in 1 s."]

    late = _session()
    refused = _sign_in(late, "guess-51")
    wait = re.fullmatch(r"Too many wrong passwords: try again in (\d+) s\.", refused)
    assert wait and int(wait.group(1)) >= 30, refused

    # During the wait the password is not even compared: the right one is refused too, and the app stays hidden.
    assert _sign_in(late, PASSWORD).startswith("Too many wrong passwords")
    assert [t.label for t in late.text_input] == ["Password"] and not late.sidebar.get("text_input")


def test_metrics_answer_nothing_before_sign_in_on_the_real_server(serve_simulacra: Callable[[], str]) -> None:
    url = serve_simulacra()
    for path in ("/_stcore/metrics", "/_stcore/metrics/", "/_stcore/metrics?families=session_events"):
        for accept in ("text/plain", "application/x-protobuf"):
            request = urllib.request.Request(f"{url}{path}", headers={"Accept": accept})
            with pytest.raises(urllib.error.HTTPError) as refused:
                urllib.request.urlopen(request, timeout=10)
            assert refused.value.code == 404, (path, accept)
            assert b"session" not in refused.value.read()
    with urllib.request.urlopen(f"{url}/_stcore/health", timeout=10) as health:
        assert health.status == 200  # the server itself answers: only the metrics are gone
