# Importing a conversation file through the service, as the CLI and the Transcripts uploader do: a lane's mask
# snapshot must read as a Mask, and a real export mutated every which way is either refused with one clear
# error and nothing written, or imported and then readable by everything that reads a conversation.

from __future__ import annotations

import copy
import json
import math
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, text
from sqlmodel import Session

from personas.catalog import load_mask
from simulator.registry import Registry
from simulator.turn import lane_messages
from simulator.values import Alternative, FidelityMetrics, SamplingSettings, Token
from storage import repo
from storage.db import make_engine
from tests.support.factories import examples, id_of
from ui.service.conversations.lanes import LaneSpec, lane_config
from ui.service.conversations.service import Conversations, history_for_lane
from ui.service.read_models import SavedMessage
from ui.service.transcripts.service import Transcripts

TABLES = ("conversation", "lane", "message", "annotation")
FORMATS = ("md", "json", "jsonl", "dpo")


def _counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as connection:
        return {t: connection.execute(text(f"SELECT count(*) FROM {t}")).scalar_one() for t in TABLES}


def _write_conversation(engine: Engine) -> dict[str, Any]:
    """A conversation as the app writes one, exported: a masked base lane and a chat lane, tokens with their
    alternatives, metrics, the settings a reply ran with, a branch from a token, an edit and annotations."""
    greedy = SamplingSettings(temperature=0.0, top_p=1.0, max_tokens=16, seed=3, stop=["\nUser:"])
    with Session(engine) as s:
        cid = id_of(repo.create_conversation(session=s, title="Mutations").id)
        base, chat = (
            id_of(
                repo.add_lane(
                    session=s,
                    conversation_id=cid,
                    position=i,
                    label=label,
                    kind=kind,
                    model=model,
                    mask_name=mask,
                    mask_snapshot=None if mask is None else load_mask(mask).model_dump(mode="json"),
                    system_prompt=system,
                    settings=greedy,
                ).id
            )
            for i, (label, kind, model, mask, system) in enumerate(
                [
                    ("Base", "simulator", "base", "assistant", None),
                    ("Chat", "chat", "chat", None, "Be brief."),
                ]
            )
        )
        first = id_of(repo.add_user_message(session=s, conversation_id=cid, parent_id=None, content="Hello?").id)
        tokens = [
            Token(text="Hi", p=0.9, top=[Alternative(text="Hey", p=0.05)]).compact(),
            Token(text=" there").compact(),
        ]
        metrics = FidelityMetrics(in_character_p=0.8, ended_by="natural", perplexity=3.2).model_dump(mode="json")
        document, sent = "User: Hello?\nAssistant:", [{"role": "user", "content": "Hello?"}]
        replies: list[int] = []
        for lane, prompt, branch in ((base, document, None), (chat, sent, None), (base, document, 1)):
            diverged = {} if branch is None else {"diverged_from_id": replies[0], "diverged_at": branch}
            reply = repo.start_reply(
                session=s,
                conversation_id=cid,
                lane_id=lane,
                parent_id=first,
                prompt=prompt,
                settings=greedy.model_copy(update={"max_tokens": 8}),
                **diverged,
            )
            repo.finish_reply(
                session=s,
                message_id=id_of(reply.id),
                content="Hi there",
                tokens=tokens,
                status="complete",
                finish_reason="stop",
                error=None,
                ttft_ms=5.0,
                total_ms=40.0,
                tokens_per_s=41.0,
                seed=3,
                model_sha256="ab" * 32,
                metrics=metrics,
            )
            replies.append(id_of(reply.id))
        repo.add_user_message(session=s, conversation_id=cid, parent_id=first, content="And then?")
        repo.add_user_message(session=s, conversation_id=cid, parent_id=None, content="Hello? (edited)")
        repo.add_annotation(session=s, message_id=replies[0], tags=["polite"], rating=1, note="good")
        repo.add_annotation(session=s, message_id=replies[1], rating=-1)
        repo.add_annotation(session=s, conversation_id=cid, tags=["demo"], note="whole")
        return repo.export_conversation(session=s, conversation_id=cid)


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    # One database for every example: each import is a new conversation, so examples stay independent.
    engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('import') / 'simulacra.db'}")
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def exported(engine: Engine) -> dict[str, Any]:
    return _write_conversation(engine)


def _check_reads(engine: Engine, registry: Registry, cid: int) -> None:
    """Everything that reads a saved conversation: the pages' view and path, every reply's tokens and
    settings, every export format, and each lane as a turn would run it (mask, settings, what it is sent)."""
    conversations, transcripts = Conversations(engine, registry), Transcripts(engine)
    view = conversations.view(cid)
    turns = conversations.path(cid)
    assert len(view.turns) == len(turns)
    with Session(engine) as s:
        rows = repo.list_messages(session=s, conversation_id=cid)
    for row in rows:
        message = SavedMessage.from_row(row)
        assert len(message.tokens) == len(row.tokens or [])
        assert (message.settings is None) == (row.settings is None)  # decoded, not dropped as unreadable
        message.as_reply()
    for fmt in FORMATS:
        transcripts.export([cid], fmt)
    for lane in conversations.lanes(cid):
        config = lane_config(lane)
        LaneSpec.of(lane)
        history = history_for_lane(turns, lane.id)
        lane_messages(config, history)
        if config.mask is not None:
            config.mask.render(history)


# -- mask snapshots ---------------------------------------------------------------------------------------

BAD_SNAPSHOTS = [
    ({"foo": 1}, r"mask_snapshot.name: Field required; lanes\[0\] \(id \d+\).mask_snapshot.foo: Extra inputs"),
    ({"name": "Pirate King"}, r"mask_snapshot.name: String should match pattern"),
    ({"name": "x", "turn_format": "{name}:"}, r"mask_snapshot.turn_format: Value error, must contain \{text\}"),
    ({"name": "x", "examples": [{"role": "bot", "text": "hi"}]}, r"mask_snapshot.examples\[0\].role: Input should"),
    ({"name": "x", "stop": "User:"}, r"mask_snapshot.stop: Input should be a valid list"),
]


@pytest.mark.parametrize(("snapshot", "problem"), BAD_SNAPSHOTS)
def test_a_mask_snapshot_no_mask_reads_is_refused(
    engine: Engine, exported: dict[str, Any], tmp_path: Path, snapshot: dict[str, Any], problem: str
) -> None:
    data = copy.deepcopy(exported)
    data["lanes"][0]["mask_snapshot"] = snapshot
    raw = json.dumps(data).encode()
    path = tmp_path / "masked.json"
    path.write_bytes(raw)
    transcripts = Transcripts(engine)
    before = _counts(engine)
    for source, run in (
        ("upload.json", lambda: transcripts.import_bytes(raw, "upload.json")),
        (str(path), lambda: transcripts.import_file(path)),
    ):
        with pytest.raises(repo.ImportError_) as raised:
            run()
        message = str(raised.value)
        assert message.startswith(f"{source}: not a valid conversation export: lanes[0] (id ")
        assert "\n" not in message
        assert re.search(problem, message), message
    assert _counts(engine) == before


@pytest.mark.parametrize("snapshot", [None, {}, {"name": "minimal"}])
def test_no_mask_or_any_valid_mask_imports(
    engine: Engine, registry: Registry, exported: dict[str, Any], snapshot: dict[str, Any] | None
) -> None:
    data = copy.deepcopy(exported)
    data["lanes"][0]["mask_snapshot"] = snapshot
    cid = Transcripts(engine).import_bytes(json.dumps(data).encode(), "fine.json")
    _check_reads(engine, registry, cid)


# -- mutated exports --------------------------------------------------------------------------------------

HOSTILE: list[Any] = [
    None,
    True,
    False,
    0,
    -1,
    1,
    0.5,
    2.5,
    50,
    10_000_000,
    2**63,
    2**70,
    -(2**70),
    1e308,
    math.inf,
    math.nan,
    "",
    "x",
    "\u2028",
    "[[{",
    "2026-01-01T00:00:00+00:00",
    "9999-12-31T23:00:00-05:00",
    [],
    {},
    [5, [], "x"],
    {"foo": 1},
    [["a", 0.5, []]],
    [["a", 1.5, []]],
    [{"role": "user", "content": "hi"}],
    {"name": "pirate"},
]
BAD_TOKENS: list[Any] = [
    [5, [], "x"],
    [],
    ["a", None],
    ["a", -0.1, []],
    ["a", 0.5, "b"],
    ["a", 0.5, [["b"]]],
    ["a", True, []],
    ["a", 0.5, [["b", 2]]],
    ["a"],
    ["a", 1, []],
]
BAD_SNAPSHOT_VALUES = [snapshot for snapshot, _ in BAD_SNAPSHOTS] + [{"name": "ok", "frame": "A frame."}, "mask", []]


def _nodes(value: Any, loc: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """The place of every value in the file below the root."""
    children = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, child in children:
        yield (*loc, key)
        yield from _nodes(child, (*loc, key))


def _parent(data: Any, loc: tuple[Any, ...]) -> Any:
    for key in loc[:-1]:
        data = data[key]
    return data


def _nested(value: Any, depth: int) -> Any:
    for _ in range(depth):
        value = [value]
    return value


def _alike(value: Any) -> st.SearchStrategy[Any]:
    """Another value of the same JSON type: often still valid, so the import goes through and the reads run."""
    if isinstance(value, bool) or value is None:
        return st.sampled_from(HOSTILE)
    if isinstance(value, int):
        return st.sampled_from([0, 1, -1, 2, 4096, 4097, 2**31, 2**63 - 1, 2**63]) | st.integers(-(2**70), 2**70)
    if isinstance(value, float):
        return st.floats(allow_nan=True, allow_infinity=True) | st.sampled_from([0.0, 1.0, 2.0, 1e-300])
    if isinstance(value, str):
        return st.text(max_size=12)  # any text: lone surrogates too
    if isinstance(value, list):
        return st.permutations(value).flatmap(lambda items: st.integers(0, len(items)).map(lambda n: items[:n]))
    return st.just(dict(list(value.items())[1:]))


@st.composite
def mutated(draw: st.DrawFn, exported: dict[str, Any]) -> dict[str, Any]:
    """The export with one or two changes: a value swapped for one like it or a hostile one, a key deleted or
    added, a value nested (past the limit, or not), a token broken, or a lane's mask snapshot replaced."""
    data = copy.deepcopy(exported)
    rng = draw(st.randoms(use_true_random=False))  # any place in the file alike: sampled_from favours the first
    for _ in range(draw(st.integers(1, 2))):
        nodes = [loc for loc in _nodes(data) if loc[0] not in ("format", "version")]  # tested on their own
        leaves = [loc for loc in nodes if not isinstance(_parent(data, loc)[loc[-1]], dict | list)]
        loc = rng.choice(leaves if leaves and draw(st.booleans()) else nodes)
        parent, key = _parent(data, loc), loc[-1]
        kind = draw(st.sampled_from(["alike"] * 4 + ["value", "delete", "add", "nest", "token", "mask"]))
        if kind == "alike":
            parent[key] = draw(_alike(parent[key]))
        elif kind == "value":
            parent[key] = draw(st.sampled_from(HOSTILE))
        elif kind == "delete":
            del parent[key]
        elif kind == "add" and isinstance(parent, dict):
            parent[draw(st.sampled_from(["colour", "id", "extra", "tokens"]))] = draw(st.sampled_from(HOSTILE))
        elif kind == "nest":
            parent[key] = _nested(parent[key], draw(st.sampled_from([1, 3, 70])))
        elif kind == "token" and data.get("messages"):
            message = draw(st.sampled_from([m for m in data["messages"] if isinstance(m, dict)] or [{}]))
            message["tokens"] = [*(message.get("tokens") or [])[:1], draw(st.sampled_from(BAD_TOKENS))]
        elif kind == "mask" and isinstance(data.get("lanes"), list) and data["lanes"]:
            lane = draw(st.sampled_from(data["lanes"]))
            if isinstance(lane, dict):
                lane["mask_snapshot"] = draw(st.sampled_from(BAD_SNAPSHOT_VALUES))
    return data


@pytest.fixture(scope="module")
def mutations(exported: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    return mutated(exported)


@settings(
    max_examples=examples(75), deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
@given(data=st.data())
def test_a_mutated_export_is_refused_cleanly_or_works_everywhere(
    engine: Engine, registry: Registry, mutations: st.SearchStrategy[dict[str, Any]], data: st.DataObject
) -> None:
    changed = data.draw(mutations)
    raw = json.dumps(changed).encode()  # NaN and Infinity as Python writes them: json reads them back
    before = _counts(engine)
    try:
        cid = Transcripts(engine).import_bytes(raw, "mutated.json")
    except repo.ImportError_ as e:
        message = str(e)
        assert message.startswith("mutated.json") and "\n" not in message, message
        message.encode("utf-8")  # printable as it is
        assert _counts(engine) == before
        return
    assert _counts(engine)["conversation"] == before["conversation"] + 1
    _check_reads(engine, registry, cid)
