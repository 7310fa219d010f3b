# `simulacra tree` as a user runs it: a tree from a saved base reply's token, whose --json document is exactly the
# text the model continued and whose nodes are sorted by p; a tree from a new message on base@MASK; and one clear
# error line for each kind of bad input.

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

Run = Callable[..., subprocess.CompletedProcess[str]]


def _check_nodes(nodes: list[dict[str, Any]], parent_p: float) -> int:
    assert [n["p"] for n in nodes] == sorted((n["p"] for n in nodes), reverse=True)
    for node in nodes:
        assert node["path_p"] == pytest.approx(parent_p * node["p"])
        assert set(node) >= {"text", "p", "path_p", "children"}
    return len(nodes) + sum(_check_nodes(n["children"], n["path_p"]) for n in nodes)


@pytest.mark.model
@pytest.mark.slow
def test_a_tree_from_a_reply_token_and_from_a_new_message(cli: Run, tmp_path: Path) -> None:
    asked = cli(tmp_path, "ask", "What is the capital of France?", "--lane", "base@assistant", "--lane", "chat",
                "--json", "--max-tokens", "6", "--temperature", "0")  # fmt: skip
    assert asked.returncode == 0, asked.stderr
    base, chat = json.loads(asked.stdout)["lanes"]
    exported = json.loads(cli(tmp_path, "export", str(json.loads(asked.stdout)["conversation_id"])).stdout)
    reply = next(m for m in exported["messages"] if m["id"] == base["message_id"])

    grown = cli(tmp_path, "tree", str(base["message_id"]), "--at", "2", "-k", "2", "--depth", "2", "--json")

    assert grown.returncode == 0, grown.stderr
    tree = json.loads(grown.stdout)
    first_two = "".join(t[0] for t in reply["tokens"][:2])
    assert tree["document"] == reply["prompt"] + first_two
    assert _check_nodes(tree["nodes"], 1.0) == 2 + 4
    assert tree["coverage"] == pytest.approx(sum(c["path_p"] for n in tree["nodes"] for c in n["children"]))

    fresh = cli(tmp_path, "tree", "--lane", "base@assistant", "Name a colour.", "-k", "3", "--depth", "1", "--json")
    assert fresh.returncode == 0, fresh.stderr
    fresh_tree = json.loads(fresh.stdout)
    assert fresh_tree["document"].endswith("User: Name a colour.\nAda:") and len(fresh_tree["nodes"]) == 3

    for args, words in [
        ([str(base["message_id"]), "--at", "1", "-k", "11"], "k must be between 1 and 10"),
        ([str(base["message_id"]), "--at", "1", "--depth", "9"], "depth must be between 1 and 8"),
        ([str(base["message_id"]), "--at", "99"], "cannot start at token 99"),
        ([str(chat["message_id"]), "--at", "1"], "is a chat-model reply"),
        (["--lane", "base@no-such-mask", "hello"], "unknown mask 'no-such-mask'"),
    ]:
        refused = cli(tmp_path, "tree", *args)
        assert refused.returncode == 2 and refused.stderr.count("\n") == 1, refused.stderr
        assert refused.stderr.startswith("error: ") and words in refused.stderr
