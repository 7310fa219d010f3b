"""The `simulacra` command. Each handler parses its arguments, calls one domain function, and prints."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path
from typing import Any, NoReturn

import click
from sqlalchemy.engine import Engine
from sqlmodel import Session

from personas.mask import MaskError
from simulator.errors import SimulacraError
from simulator.events import SamplingSettings, Token
from storage import repo
from storage.db import make_engine
from storage.tables import Message
from ui.conversations import MAX_SAMPLES, Conversations, TurnUpdate, parse_lane_spec
from ui.settings import Settings, load_dotenv_keys

USER_ERRORS: tuple[type[Exception], ...] = (SimulacraError, MaskError, repo.StorageError)


def fail(message: str) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(2)


def _settings() -> Settings:
    from pydantic import ValidationError

    load_dotenv_keys()
    try:
        return Settings()
    except (tomllib.TOMLDecodeError, UnicodeDecodeError, OSError) as e:
        fail(f"cannot read {os.environ.get('SIMULACRA_CONFIG', 'simulacra.toml')}: {e}")
    except ValidationError as e:
        problems = "; ".join(f"{'.'.join(map(str, p['loc'])) or 'settings'}: {p['msg']}" for p in e.errors())
        fail(f"invalid settings (SIMULACRA_* variables, .env or simulacra.toml): {problems}")


def _engine(settings: Settings) -> Engine:
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import SQLAlchemyError

    url = settings.resolved_database_url
    try:
        return make_engine(url)
    except (OSError, SQLAlchemyError) as e:
        where = make_url(url).render_as_string(hide_password=True)
        reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        fail(f"cannot open the database {where}: {reason}. Check SIMULACRA_DATA_DIR or SIMULACRA_DATABASE_URL")


def _conversations(settings: Settings) -> Conversations:
    return Conversations(_engine(settings), settings.registry(), settings.resolved_masks_dir)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Simulacra: base models wearing masks, side by side with chat models."""


@main.command()
@click.option("--port", type=int, default=None, help="Port (default 8501, or SIMULACRA_PORT).")
@click.option("--host", default=None, help="Address to bind (default 127.0.0.1: this machine only).")
def ui(port: int | None, host: str | None) -> None:
    """Serve the app on http://127.0.0.1:8501."""
    settings = _settings()
    app = Path(__file__).with_name("app.py")
    command = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(app),
        "--server.address",
        host or settings.host,
        "--server.port",
        str(port or settings.port),
        "--server.headless",
        "true",
        "--browser.gatherUsageStats",
        "false",  # offline: no telemetry
        "--client.toolbarMode",
        "minimal",  # no "Deploy" button: this is a local tool
        "--global.developmentMode",
        "false",
    ]
    click.echo(f"Simulacra on http://{host or settings.host}:{port or settings.port}")
    os.execv(command[0], command) if os.name == "posix" else sys.exit(subprocess.call(command))


@main.command()
@click.argument("prompt")
@click.option(
    "--lane",
    "lanes",
    multiple=True,
    metavar="SPEC",
    help="MODEL[@MASK]: base, chat, a registered GGUF name, or a litellm model string.",
)
@click.option("--conversation", "conversation_id", type=int, help="Continue this conversation with its lanes.")
@click.option("--max-tokens", type=click.IntRange(1, 4096), default=128, show_default=True)
@click.option("--temperature", type=click.FloatRange(0, 2), default=0.7, show_default=True)
@click.option("--seed", type=int, default=None, help="Fixed seed for every lane (default: random, recorded).")
@click.option(
    "--samples", type=click.IntRange(1, MAX_SAMPLES), default=1, show_default=True,
    help="Replies each base lane draws, each with its own recorded seed.",
)  # fmt: skip
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def ask(
    prompt: str,
    lanes: tuple[str, ...],
    conversation_id: int | None,
    max_tokens: int,
    temperature: float,
    seed: int | None,
    samples: int,
    as_json: bool,
) -> None:
    """Send PROMPT to every lane at once and print the replies side by side."""
    settings = _settings()
    sampling = SamplingSettings(temperature=temperature, max_tokens=max_tokens, seed=seed)
    try:
        setups = [parse_lane_spec(spec, sampling) for spec in (lanes or settings.default_lanes)]
        service = _conversations(settings)
        if conversation_id is None:
            conversation_id = service.create(setups)
        elif lanes:
            fail("--conversation continues with the conversation's own lanes; leave out --lane")
        final: dict[int, list[TurnUpdate]] = {}
        notices: list[str] = []
        for update in service.send(conversation_id, prompt, samples=samples):
            if update.event.kind in ("done", "error") and update.lane_id is not None:
                final.setdefault(update.lane_id, []).append(update)
            if update.event.kind == "notice" and update.event.notice and not as_json:
                notices.append(update.event.notice)
        lane_rows = service.lanes(conversation_id)
    except USER_ERRORS as e:
        fail(str(e))
    results = []
    for lane in lane_rows:
        drawn = sorted(final[lane.id or 0], key=lambda u: u.position)
        result = _lane_result(lane, drawn[0])
        if samples > 1 and lane.kind == "simulator":
            result["samples"] = [_reply_result(u) for u in drawn]
        results.append(result)
    if as_json:
        click.echo(json.dumps({"conversation_id": conversation_id, "lanes": results}, ensure_ascii=False, indent=2))
    else:
        for notice in notices:
            click.echo(f"note: {notice}", err=True)
        click.echo(_side_by_side(results))
        click.echo(f"\nconversation {conversation_id}")
    if any(r["status"] != "complete" for r in results):
        sys.exit(1)


def _lane_result(lane: Any, update: TurnUpdate) -> dict[str, Any]:
    return {"label": lane.label, "model": lane.model, "mask": lane.mask_name, **_reply_result(update)}


def _reply_result(update: TurnUpdate) -> dict[str, Any]:
    reply = update.reply
    return {
        "status": reply.status,
        "error": reply.error,
        "text": reply.text,
        "finish_reason": reply.finish_reason,
        "tokens": [
            {"text": t.text, "p": t.p, "top": [{"text": a.text, "p": a.p} for a in t.top]} for t in reply.tokens
        ],
        "notices": reply.notices,
        "ttft_ms": reply.timings.ttft_ms,
        "tokens_per_s": reply.timings.tokens_per_s,
        "seed": reply.seed,
        "model_sha256": reply.model_sha256,
        "metrics": None if reply.metrics is None else reply.metrics.model_dump(mode="json"),
        "message_id": update.message_id,
    }


@main.command()
@click.argument("message_id", type=int)
@click.option("--at", "at", type=click.IntRange(0), required=True, help="Keep the reply's first I tokens (0-based).")
@click.option("--token", "token", required=True, help="The token to write at position I instead.")
@click.option("--json", "as_json", is_flag=True, help="Print the new reply as JSON.")
def branch(message_id: int, at: int, token: str, as_json: bool) -> None:
    """Branch a base-lane reply at token I with TEXT: a new sibling reply that continues from there."""
    service = _conversations(_settings())
    try:
        with Session(service.engine) as session:
            source = session.get(Message, message_id)
        tokens = [Token.from_compact(t) for t in (source.tokens or [])] if source is not None else []
        # The chosen token's probability, when the model had it among the alternatives there.
        p = next((alt.p for alt in tokens[at].top if alt.text == token), None) if at < len(tokens) else None
        updates = service.branch(message_id, at, Token(text=token, p=p))
        finals = [u for u in updates if u.event.kind in ("done", "error")]
    except USER_ERRORS as e:
        fail(str(e))
    result = _reply_result(finals[-1])
    result["diverged_from_id"], result["diverged_at"] = message_id, at
    if as_json:
        click.echo(json.dumps(result, ensure_ascii=False, indent=2))
    else:
        kept = "".join(t["text"] for t in result["tokens"][:at])
        click.echo(f"{kept}[{token}]{result['text'][len(kept) + len(token):]}")
        click.echo(f"\nreply {result['message_id']} (branched from {message_id} at token {at})")
    if result["status"] != "complete":
        sys.exit(1)


def _side_by_side(results: list[dict[str, Any]]) -> str:
    width = max(20, (shutil.get_terminal_size((120, 40)).columns - 3 * (len(results) - 1)) // max(1, len(results)))
    columns = []
    for r in results:
        body = r["text"].strip() if r["status"] != "error" else f"[error] {r['error']}"
        lines = [r["label"][:width], "─" * min(width, 40)]
        for paragraph in body.splitlines() or [""]:
            lines += textwrap.wrap(paragraph, width) or [""]
        columns.append(lines)
    height = max(len(c) for c in columns)
    return "\n".join(
        " │ ".join((c[i] if i < len(c) else "").ljust(width) for c in columns).rstrip() for i in range(height)
    )


@main.command(name="list")
@click.option("--json", "as_json", is_flag=True)
@click.option("--limit", type=int, default=50, show_default=True)
def list_conversations(as_json: bool, limit: int) -> None:
    """List saved conversations, newest first."""
    settings = _settings()
    with Session(_engine(settings)) as session:
        rows = repo.list_conversations(session=session, limit=limit)
    if as_json:
        click.echo(json.dumps([r.model_dump(mode="json") for r in rows], ensure_ascii=False, indent=2))
        return
    for r in rows:
        click.echo(f"{r.id:>5}  {r.updated_at:%Y-%m-%d %H:%M}  {r.title or '(untitled)'}  [{', '.join(r.lane_labels)}]")


def _register_commands() -> None:
    # Imported here, not at the top: these modules import this one for its settings helpers.
    from ui.cli_masks import masks
    from ui.cli_transcripts import COMMANDS

    main.add_command(masks)
    for command in COMMANDS:
        main.add_command(command)


_register_commands()
