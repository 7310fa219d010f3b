"""`simulacra ui|ask|branch|list`: serve the app, run turns from the shell, and list conversations."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from contextlib import closing
from pathlib import Path
from typing import Any

import click

from simulator.values import MAX_SEED, SamplingSettings
from ui.cli.common import USER_ERRORS, fail, reviewer, reviewer_option, settings, workspace
from ui.service.access import PASSWORD_VARIABLE, check_exposure
from ui.service.conversations.service import MAX_SAMPLES, Conversations, LaneSpec, TurnUpdate, parse_lane_spec
from ui.service.read_models import Lane
from ui.service.settings import Settings
from ui.service.transcripts.service import Transcripts
from ui.service.vectors.views import parse_steer

# app.py wrapped as an ASGI app, which hides Streamlit's routes that would answer before the password.
APP = Path(__file__).resolve().parents[1] / "web" / "server.py"


@click.command(name="ui")
@click.option("--port", type=int, default=None, help="Port (default 8501, or SIMULACRA_PORT).")
@click.option("--host", default=None, help="Address to bind (default 127.0.0.1: this machine only).")
@reviewer_option
def serve(port: int | None, host: str | None) -> None:
    """Serve the app on http://127.0.0.1:8501 (beyond this machine only with SIMULACRA_PASSWORD)."""
    current = settings()
    host = host or current.host
    try:
        check_exposure(host, current.password)
    except USER_ERRORS as e:
        fail(str(e))
    command = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(APP),
        "--server.address",
        host,
        "--server.port",
        str(port or current.port),
        "--server.headless",
        "true",
        "--browser.gatherUsageStats",
        "false",  # offline: no telemetry
        "--client.toolbarMode",
        "minimal",  # no "Deploy" button: this is a local tool
        "--global.developmentMode",
        "false",
        # The server takes no upload bigger than an import may be (Streamlit's default is 200 MB): a client that
        # ignores the uploaders' own limit cannot make the server hold more.
        "--server.maxUploadSize",
        str(Transcripts.import_limits()[0]),
    ]
    click.echo(f"Simulacra on http://{host}:{port or current.port}")
    env = _app_environment(current)
    os.execve(command[0], command, env) if os.name == "posix" else sys.exit(subprocess.call(command, env=env))


def _app_environment(current: Settings) -> dict[str, str]:
    # The password and reviewer reach the app through its environment, never its command line (which any local
    # user can read in `ps`), wherever they were set: .env, simulacra.toml or the variables themselves.
    env = dict(os.environ)
    if current.password is not None:
        env[PASSWORD_VARIABLE] = current.password.get_secret_value()
    if name := reviewer(current):
        env["SIMULACRA_REVIEWER"] = name
    return env


@click.command()
@click.argument("prompt", required=False)
@click.option(
    "--file",
    "prompt_file",
    type=click.Path(path_type=Path),
    default=None,
    help="Read the prompt from this UTF-8 file (PROMPT `-` reads it from stdin).",
)
@click.option(
    "--lane",
    "lanes",
    multiple=True,
    metavar="SPEC",
    help="MODEL[@MASK]: base, chat, a registered GGUF name, or a litellm model string; MODEL@MASK~OTHER[:GAMMA] is"
    " a contrast lane, sampling from p_MASK^(1+GAMMA) / p_OTHER^GAMMA (GAMMA 0..10, default 1);"
    " MODEL@MASK^DIRECTION:ALPHA[:FIRST-LAST] a steered lane (see --steer).",
)
@click.option(
    "--steer",
    default=None,
    metavar="NAME:ALPHA[:FIRST-LAST]",
    help="Steer every --lane with the direction NAME (simulacra vectors list) at strength ALPHA on layers"
    " FIRST-LAST (default: the direction's best layer); in-process base lanes only.",
)
@click.option("--conversation", "conversation_id", type=int, help="Continue this conversation with its lanes.")
@click.option("--max-tokens", type=click.IntRange(1, 4096), default=128, show_default=True)
@click.option("--temperature", type=click.FloatRange(0, 2), default=0.7, show_default=True)
@click.option(
    "--seed",
    type=click.IntRange(0, MAX_SEED),
    default=None,
    help="Fixed seed for every lane (default: random, recorded).",
)
@click.option(
    "--samples",
    type=click.IntRange(1, MAX_SAMPLES),
    default=1,
    show_default=True,
    help="Replies each base lane draws, each with its own recorded seed.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.option(
    "--wait", is_flag=True, help="When a turn is running in the conversation, queue behind it instead of refusing."
)
def ask(
    prompt: str | None,
    prompt_file: Path | None,
    lanes: tuple[str, ...],
    conversation_id: int | None,
    max_tokens: int,
    temperature: float,
    seed: int | None,
    samples: int,
    as_json: bool,
    wait: bool,
    steer: str | None,
) -> None:
    """Send PROMPT to every lane at once and print the replies side by side.

    PROMPT `-` reads the prompt from stdin, and --file from a file: for prompts too long for an argument."""
    prompt = _read_prompt(prompt, prompt_file)
    current = settings()
    sampling = SamplingSettings(temperature=temperature, max_tokens=max_tokens, seed=seed)
    overrides: dict[str, Any] = {}
    if conversation_id is not None:
        if lanes or steer:
            fail("--conversation continues with the conversation's own lanes; leave out --lane and --steer")
        # Only what was typed: the lanes' own settings stand for the rest.
        context = click.get_current_context()
        given = ("max_tokens", "temperature", "seed")
        overrides = {name: getattr(sampling, name) for name in given if _typed(context, name)}
    try:
        specs = [parse_lane_spec(spec, sampling) for spec in (lanes or current.default_lanes)]
        if steer is not None:
            specs = _steered(specs, steer, given=bool(lanes))
        service = workspace(current).conversations
        if conversation_id is None:
            conversation_id = service.create(specs)
        final, notices = _send(service, conversation_id, prompt, samples, overrides, wait)
        saved_lanes = service.lanes(conversation_id)
    except USER_ERRORS as e:
        fail(str(e))
    results = []
    for lane in saved_lanes:
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


def _steered(specs: list[LaneSpec], steer: str, *, given: bool) -> list[LaneSpec]:
    """The lanes with --steer's steering; each is checked (an in-process base model, the direction's model and
    layers) when the conversation is created, before anything is saved."""
    if not given:
        fail("--steer steers the lanes given with --lane: name them, e.g. --lane base@assistant")
    request = parse_steer(steer)
    for spec in specs:
        if spec.steer is not None or spec.contrast is not None:
            fail(f"lane {spec.display_label!r} is already {'steered' if spec.steer else 'contrasted'}: drop --steer")
    return [spec.model_copy(update={"steer": request}) for spec in specs]


def _send(
    service: Conversations, conversation_id: int, prompt: str, samples: int, overrides: dict[str, Any], wait: bool
) -> tuple[dict[int, list[TurnUpdate]], list[str]]:
    """Run the turn; returns each lane's final updates and the notices to print. Closed however it ends (Ctrl-C
    too), so the conversation's lease is given back at once rather than left to expire."""
    final: dict[int, list[TurnUpdate]] = {}
    notices: list[str] = []

    def waiting() -> None:
        click.echo(f"conversation {conversation_id} has a turn running; waiting for it…", err=True)

    updates = service.send(conversation_id, prompt, samples=samples, overrides=overrides, wait=wait, on_wait=waiting)
    with closing(updates):
        for update in updates:
            if update.event.kind in ("done", "error") and update.lane_id is not None:
                final.setdefault(update.lane_id, []).append(update)
            if update.event.kind == "notice" and update.event.notice:
                notices.append(update.event.notice)
    return final, notices


def _read_prompt(prompt: str | None, prompt_file: Path | None) -> str:
    if (prompt is None) == (prompt_file is None):
        fail("give the prompt as PROMPT, as - to read it from stdin, or as --file PATH (exactly one of these)")
    where = ""
    if prompt_file is not None or prompt == "-":
        where = f" in {prompt_file}" if prompt_file is not None else " on stdin"
        try:
            raw = prompt_file.read_bytes() if prompt_file is not None else sys.stdin.buffer.read()
            prompt = raw.decode("utf-8")
        except OSError as e:
            fail(f"cannot read the prompt from {prompt_file}: {e.strerror or e}")
        except UnicodeDecodeError as e:
            fail(f"the prompt{where} is not valid UTF-8 (byte {e.start})")
    assert prompt is not None
    if not prompt.strip():
        fail(f"the prompt{where} is empty: write something for the lanes to answer")
    return prompt


def _typed(context: click.Context, name: str) -> bool:
    return context.get_parameter_source(name) not in (None, click.core.ParameterSource.DEFAULT)


def _lane_result(lane: Lane, update: TurnUpdate) -> dict[str, Any]:
    contrast = lane.contrasted
    against = None if contrast is None else {"mask": contrast.mask, "gamma": contrast.gamma}
    steering = lane.steered
    described = {
        "label": lane.label,
        "model": lane.model,
        "mask": lane.mask_name,
        "contrast": against,
        "steering": None if steering is None else steering.model_dump(mode="json"),
    }
    return {**described, **_reply_result(update)}


def _reply_result(update: TurnUpdate) -> dict[str, Any]:
    reply = update.reply
    return {
        "status": reply.status,
        "error": reply.error,
        "text": reply.text,
        "finish_reason": reply.finish_reason,
        "tokens": [
            {
                "text": t.text,
                "p": t.p,
                "top": [{"text": a.text, "p": a.p} for a in t.top],
                # nats; from a server, a lower bound from its top-k (`entropy_bound`): docs/surprise.md
                "entropy": t.entropy,
                "entropy_bound": t.entropy_bound,
                "surprisal": t.surprisal,
            }
            for t in reply.tokens
        ],
        "notices": reply.notices,
        "ttft_ms": reply.timings.ttft_ms,
        "total_ms": reply.timings.total_ms,
        "tokens_per_s": reply.timings.tokens_per_s,
        "seed": reply.seed,
        "model_sha256": reply.model_sha256,
        "metrics": None if reply.metrics is None else reply.metrics.model_dump(mode="json"),
        "message_id": update.message_id,
    }


@click.command()
@click.argument("message_id", type=int)
@click.option("--at", "at", type=click.IntRange(0), required=True, help="Keep the reply's first I tokens (0-based).")
@click.option("--token", "token", required=True, help="The token to write at position I instead.")
@click.option("--json", "as_json", is_flag=True, help="Print the new reply as JSON.")
@click.option("--wait", is_flag=True, help="When a turn is running in the conversation, queue behind it.")
def branch(message_id: int, at: int, token: str, as_json: bool, wait: bool) -> None:
    """Branch a base-lane reply at token I with TEXT: a new sibling reply that continues from there."""
    service = workspace().conversations
    try:
        with closing(service.branch(message_id, at, token, wait=wait)) as updates:
            finals = [u for u in updates if u.event.kind in ("done", "error")]
    except USER_ERRORS as e:
        fail(str(e))
    result = _reply_result(finals[-1])
    result["diverged_from_id"], result["diverged_at"] = message_id, at
    if as_json:
        click.echo(json.dumps(result, ensure_ascii=False, indent=2))
    else:
        kept = "".join(t["text"] for t in result["tokens"][:at])
        click.echo(f"{kept}[{token}]{result['text'][len(kept) + len(token) :]}")
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


@click.command(name="list")
@click.option("--json", "as_json", is_flag=True)
@click.option("--limit", type=int, default=50, show_default=True)
def list_conversations(as_json: bool, limit: int) -> None:
    """List saved conversations, newest first."""
    rows = workspace().transcripts.recent(limit=limit)
    if as_json:
        click.echo(json.dumps([r.model_dump(mode="json") for r in rows], ensure_ascii=False, indent=2))
        return
    for r in rows:
        click.echo(f"{r.id:>5}  {r.updated_at:%Y-%m-%d %H:%M}  {r.title or '(untitled)'}  [{', '.join(r.lane_labels)}]")
