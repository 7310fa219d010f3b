"""Small checks and clean-ups that several test folders share (tests/ is on sys.path via its conftest)."""

from __future__ import annotations

import base64
import io
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from PIL.PngImagePlugin import PngInfo

# How the browser tests start Debian's Chromium: headless, in a container, with nothing talking to Google.
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _id(value: int | None) -> int:
    """A saved row's id: `repo` returns rows whose `id` is typed optional, but a saved row always has one."""
    assert value is not None
    return value


def one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    """The CLI's whole complaint: a non-zero exit, no traceback, and exactly one `error: ...` line."""
    assert result.returncode != 0
    assert "Traceback" not in result.stderr + result.stdout
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


def stop_process(process: subprocess.Popen[bytes] | subprocess.Popen[str]) -> None:
    """Ask a server to stop, and kill it if it has not within ten seconds."""
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def chromium_path() -> str:
    """Chromium's executable; without one the test is skipped, or fails where CI=true (CI must not skip)."""
    path = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
    if path is None:
        message = "Chromium not found: apt-get install chromium"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on (closed again, so connecting to it is refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_server(url: str, process: subprocess.Popen[bytes], timeout: float, log: Path | None = None) -> None:
    """Wait until `url` answers 200; fail if the process exits first or time runs out, quoting the log's tail."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"{process.args!r} exited with {process.returncode}{_tail(log)}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise AssertionError(f"{url} did not answer within {timeout} s{_tail(log)}")


def _tail(log: Path | None) -> str:
    if log is None or not log.exists():
        return ""
    return ":\n" + log.read_text(errors="replace")[-2000:]


@contextmanager
def streamlit_server(command: list[str], port: int, cwd: Path, log: Path, timeout: float = 60) -> Iterator[str]:
    """Run a Streamlit server `command` (listening on `port`) with its output in `log`; yield its base URL once
    /_stcore/health answers, and stop it on the way out."""
    with log.open("wb") as output:  # a file, not a pipe: a full pipe would block the server
        process = subprocess.Popen(command, cwd=cwd, stdout=output, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_server(f"{url}/_stcore/health", process, timeout, log)
        yield url
    finally:
        stop_process(process)


@contextmanager
def serve_script(script: Path, *args: str, cwd: Path, log: Path) -> Iterator[str]:
    """Serve one Streamlit script (its own arguments after `--`) on a free port; yield its base URL."""
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(script),
        "--server.port",
        str(port),
        "--server.headless",
        "true",
        "--server.fileWatcherType",
        "none",
        "--browser.gatherUsageStats",
        "false",
        "--",
        *args,
    ]
    with streamlit_server(command, port, cwd=cwd, log=log) as url:
        yield url


@contextmanager
def chat_server(log: Path) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """llama-cpp-python's OpenAI-compatible server with the bundled SmolLM2 on one thread (see llama_server)."""
    from simulator.bundled import smollm2_chat_path

    with llama_server(log, smollm2_chat_path(), ["--n_ctx", "1024", "--n_threads", "1"]) as running:
        yield running


@contextmanager
def llama_server(log: Path, model: Path, options: list[str]) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """`python -m llama_cpp.server` serving `model` with `options`, its output in `log`; yields the process and
    its base URL (`.../v1`) once it answers, and stops it on the way out (continuing it first if a test SIGSTOPped
    it: a stopped process would not act on SIGTERM)."""
    port = free_port()
    command = [sys.executable, "-m", "llama_cpp.server", "--model", str(model)]
    command += ["--host", "127.0.0.1", "--port", str(port), *options]
    env = {**os.environ, "GOMP_SPINCOUNT": "10000"}  # see simulator/__init__.py
    with log.open("w") as output:  # a file, not a pipe: llama.cpp's loading chatter would fill a pipe and block
        process = subprocess.Popen(command, env=env, stdout=output, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}/v1"
    try:
        wait_for_server(f"{base}/models", process, timeout=120, log=log)
        yield process, base
    finally:
        if process.poll() is None:
            os.kill(process.pid, signal.SIGCONT)
        stop_process(process)


def png_with_text(chunks: dict[str, str], colour: str = "teal", size: tuple[int, int] = (40, 60)) -> bytes:
    """A real PNG written by Pillow with these tEXt chunks (latin-1, not compressed), as card tools write them."""
    info = PngInfo()
    for keyword, text in chunks.items():
        info.add_text(keyword, text)
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, format="PNG", pnginfo=info)
    return buffer.getvalue()


def card_chunk(card: dict[str, Any]) -> str:
    """A character card as a `chara` or `ccv3` chunk holds it: base64 of its JSON."""
    return base64.b64encode(json.dumps(card).encode("utf-8")).decode("ascii")


def examples(count: int) -> int:
    """How many examples a property test generates: all of them, or a tenth in the quick loop
    (`make test-fast` sets SIMULACRA_EXAMPLES_SCALE=0.1); `make test` always runs them all."""
    return max(10, round(count * float(os.environ.get("SIMULACRA_EXAMPLES_SCALE", "1"))))


# The PostgreSQL server the tests create their databases on: a role that may CREATE DATABASE, and a database it
# can connect to. .ci/run sets it up; README says how to locally.
POSTGRES_DEFAULT_URL = "postgresql+psycopg://simulacra:simulacra@127.0.0.1:5432/postgres"
_postgres_problem: list[str] = []  # why the server could not be reached, once per run: not a timeout per test


def postgres_admin_url() -> str:
    """SIMULACRA_TEST_POSTGRES_URL, or the default role on 127.0.0.1:5432."""
    return os.environ.get("SIMULACRA_TEST_POSTGRES_URL", POSTGRES_DEFAULT_URL)


def _no_postgres(problem: str) -> None:
    message = (
        f"PostgreSQL is not reachable at {postgres_admin_url()} ({problem}): install and start it and create the role"
        " (README: Tests), or set SIMULACRA_TEST_POSTGRES_URL"
    )
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


@contextmanager
def postgres_database() -> Iterator[str]:
    """A new, empty PostgreSQL database on the test server; yields its URL and drops it afterwards.
    Without a reachable server the test is skipped, or fails where CI=true (CI must not skip)."""
    import secrets

    from sqlalchemy.engine import make_url

    if _postgres_problem:
        _no_postgres(_postgres_problem[0])
    admin = make_url(postgres_admin_url())
    try:
        import psycopg

        connection = psycopg.connect(
            host=admin.host,
            port=admin.port or 5432,
            user=admin.username,
            password=admin.password,
            dbname=admin.database or "postgres",
            autocommit=True,
            connect_timeout=5,
        )
    except Exception as e:  # a missing driver, a refused connection or a wrong password alike
        _postgres_problem.append(str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__)
        _no_postgres(_postgres_problem[0])
    name = f"simulacra_test_{secrets.token_hex(6)}"
    try:
        connection.execute(f'CREATE DATABASE "{name}"')  # type: ignore[arg-type]
        yield admin.set(database=name).render_as_string(hide_password=False)
    finally:
        _drop_database(connection, name)
        connection.close()


def _drop_database(connection: Any, name: str) -> None:
    """Drop a test database. An autovacuum worker on it belongs to the superuser, whom a test role may not
    terminate (FORCE then fails with InsufficientPrivilege): it finishes within moments, so try again."""
    for attempt in range(20):
        try:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            return
        except Exception:  # psycopg's InsufficientPrivilege or ObjectInUse while autovacuum works on it
            if attempt == 19:
                raise
            time.sleep(0.5)


def seed_transcripts(url: str, count: int, *, seed: int = 0) -> list[int]:
    """`count` conversations written through storage.repo, as the app writes them: two lanes (a base lane with a
    mask snapshot, a chat lane with a system prompt), turns with token probabilities, metrics and per-reply
    settings, a regenerated reply, an edited user message (a branch), a branch from a token, an incomplete and a
    failed reply, annotations on replies and on the conversation. Returns the conversation ids."""
    import random

    from sqlmodel import Session

    from simulator.events import SamplingSettings
    from storage import repo
    from storage.db import make_engine

    rng = random.Random(seed)
    mask = {"name": "assistant", "frame": "A helpful AI talks with a user.", "user_name": "User", "stop": ["\nUser:"]}
    engine = make_engine(url)
    ids: list[int] = []
    try:
        with Session(engine) as session:
            for n in range(count):
                cid = _id(repo.create_conversation(session=session, title=f"Transcript {n} · ünïcode 🐉").id)
                repo.set_notes(session=session, conversation_id=cid, notes=f"notes on {n}\nsecond line")
                lanes = [
                    _id(
                        repo.add_lane(
                            session=session,
                            conversation_id=cid,
                            position=0,
                            label="base@assistant",
                            kind="simulator",
                            model="gemma-3-270m",
                            mask_name="assistant",
                            mask_snapshot=mask,
                            system_prompt=None,
                            settings=SamplingSettings(temperature=0.7, seed=rng.randrange(2**31)),
                        ).id
                    ),
                    _id(
                        repo.add_lane(
                            session=session,
                            conversation_id=cid,
                            position=1,
                            label="chat",
                            kind="chat",
                            model="openai/gpt-4o-mini",
                            mask_name=None,
                            mask_snapshot=None,
                            system_prompt="Be brief.",
                            settings=SamplingSettings(temperature=0.0, top_k=0, stop=["\n\n"]),
                        ).id
                    ),
                ]
                _seed_turns(session, rng, cid, lanes)
                ids.append(cid)
    finally:
        engine.dispose()
    return ids


def _seed_reply(session: Any, rng: Any, cid: int, lane_id: int, parent: int, status: str, **start: Any) -> int:
    from simulator.events import SamplingSettings
    from storage import repo

    settings = SamplingSettings(max_tokens=rng.randint(8, 64), seed=rng.randrange(2**31))
    reply = _id(
        repo.start_reply(
            session=session,
            conversation_id=cid,
            lane_id=lane_id,
            parent_id=parent,
            prompt="User: hi\nAI:",
            settings=settings,
            **start,
        ).id
    )
    tokens = [[f" w{rng.randrange(999)}", round(rng.random(), 4), [[" x", 0.01], [" y", 0.002]]] for _ in range(6)]
    text = "".join(t[0] for t in tokens)
    repo.update_reply(session=session, message_id=reply, content=text[:8], tokens=tokens[:2])
    if status == "incomplete":
        return reply
    repo.finish_reply(
        session=session,
        message_id=reply,
        content=text if status == "complete" else "",
        tokens=tokens,
        status=status,
        finish_reason="stop" if status == "complete" else "error",
        error=None if status == "complete" else "the server went away",
        ttft_ms=12.5,
        total_ms=210.25,
        tokens_per_s=41.5,
        seed=settings.seed,
        model_sha256="ab" * 32,
        metrics={"in_character_p": round(rng.random(), 4), "ended": "natural", "perplexity": 3.25},
    )
    return reply


def _seed_turns(session: Any, rng: Any, cid: int, lanes: list[int]) -> None:
    from storage import repo

    parent: int | None = None
    for turn in range(3):
        user = _id(
            repo.add_user_message(session=session, conversation_id=cid, parent_id=parent, content=f"Q{turn}?").id
        )
        replies = [_seed_reply(session, rng, cid, lane, user, "complete") for lane in lanes]
        again = _seed_reply(session, rng, cid, lanes[0], user, rng.choice(["complete", "incomplete", "error"]))
        _seed_reply(session, rng, cid, lanes[0], user, "complete", diverged_from_id=replies[0], diverged_at=2)
        repo.add_annotation(session=session, message_id=replies[0], tags=["in-character"], rating=1, note="good")
        repo.add_annotation(session=session, message_id=again, tags=["refused", "odd"], rating=-1)
        parent = user
    edited = _id(repo.add_user_message(session=session, conversation_id=cid, parent_id=None, content="Q0, edited").id)
    _seed_reply(session, rng, cid, lanes[1], edited, "complete")
    repo.add_annotation(session=session, conversation_id=cid, tags=["interesting"], note="a whole-conversation note")


# The reply containers' text, and whether each caption says the reply has ended (as in tests/ui/test_browser.py);
# one per container key, leaving out a container Streamlit still shows from the run before (data-stale), which
# can sit beside its redrawn copy for a moment.
LANES_JS = """() => Object.values(Object.fromEntries([...document.querySelectorAll('[class*="st-key-reply-"]')]
    .filter(el => !el.closest('[data-stale="true"]'))
    .map(el => [el.className.match(/st-key-reply-[^ ]*/)[0], {
        text: [...el.querySelectorAll('[data-testid="stText"]')].map(t => t.innerText).join('').trim(),
        done: /(^|\\n)(complete|incomplete) ·/.test(el.innerText)
            || !!el.querySelector('[data-testid="stAlertContentError"]'),
    }])))"""


def wait_for_replies(page: Any, timeout: float) -> list[dict[str, Any]]:
    """A Compare page's reply cells (`text`, `done`) once every one has ended, or as they are when time runs out."""
    deadline = time.monotonic() + timeout
    lanes: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        lanes = page.evaluate(LANES_JS)
        if lanes and all(lane["done"] for lane in lanes):
            break
        page.wait_for_timeout(200)
    return lanes
