"""Token trees as pages and commands ask for them: from a saved base reply at any token, or from a new user message
on a `base@MASK` lane; a node expanded further; a leaf continued as an ordinary branch; and 2–4 masks' trees on one
message compared by the first depth at which their most likely paths part. The trees themselves grow in
`simulator.tree`, on the local worker for in-process models, one request per node for a server."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import replace
from typing import Any

from pydantic import BaseModel
from sqlmodel import Session

from personas.mask import HistoryTurn
from simulator.errors import LaneSpecError
from simulator.protocol import SimulatorProtocol
from simulator.scoring import document_for
from simulator.tree import MAX_DEPTH, MAX_K, TokenTree, TreeNode, check_shape
from simulator.values import Token
from storage.tables import Lane, Message
from ui.service.conversations.lanes import parse_lane_spec
from ui.service.conversations.service import Conversations
from ui.service.conversations.turns import Plan
from ui.service.read_models import SavedMessage

__all__ = ["MAX_DEPTH", "MAX_K", "TreeComparison", "TreeNode", "TreeView", "Trees"]

# A tree is grown on contexts without a control vector, so a steered lane's tree would show the unsteered
# model's choices as the lane's: refused in one line rather than drawn wrong.
UNSTEERED = "token trees are grown unsteered, so this tree would not show what the steered lane weighed"

Address = Sequence[int]  # a node's place: the index of each child on the way down from the tree's root


class TreeView(BaseModel):
    """A tree and where it starts: a lane's model (and mask) and the exact document, after a saved reply's first
    `at` tokens when it grew from one."""

    lane: str
    model: str
    tree: TokenTree
    message_id: int | None = None
    at: int | None = None

    def node(self, address: Address) -> TreeNode:
        """Raises LaneSpecError for an address that is not in the tree."""
        return self.path(address)[-1]

    def path(self, address: Address) -> list[TreeNode]:
        nodes, children = [], self.tree.children
        for index in address:
            if not 0 <= index < len(children):
                raise LaneSpecError(f"there is no node {'.'.join(map(str, address))} in this tree")
            nodes.append(children[index])
            children = children[index].children
        if not nodes:
            raise LaneSpecError("pick a node of the tree")
        return nodes

    def as_json(self) -> dict[str, Any]:
        """What `simulacra tree --json` prints: the exact document, the tree's shape and its nested nodes."""
        return {
            "lane": self.lane,
            "message_id": self.message_id,
            "at": self.at,
            "document": self.tree.document,
            "k": self.tree.k,
            "depth": self.tree.depth,
            "min_path_p": self.tree.min_path_p,
            "coverage": self.tree.coverage(),
            "truncated": self.tree.truncated,
            "nodes": [_node_json(n) for n in self.tree.children],
        }


class TreeComparison(BaseModel):
    """Masks' trees on one message, and the first depth (1-based) where their most likely paths part."""

    views: list[TreeView]
    parting_depth: int | None

    def as_json(self) -> dict[str, Any]:
        return {"parting_depth": self.parting_depth, "trees": [view.as_json() for view in self.views]}


class Trees:
    """Grow, expand and continue token trees over the conversations' database and models."""

    def __init__(self, conversations: Conversations) -> None:
        self.conversations = conversations
        self.registry = conversations.registry

    def from_reply(self, message_id: int, at: int, k: int, depth: int, min_path_p: float = 0.0) -> TreeView:
        """The tree after a saved base reply's document and its first `at` tokens.

        Raises:
            LaneSpecError: not a base-lane reply, `at` outside it, or k, depth or the threshold out of range.
        """
        check_shape(k, depth, min_path_p)
        source, lane = self._reply(message_id)
        n = len(source.tokens)
        if not 0 <= at <= n:
            raise LaneSpecError(f"cannot start at token {at}: message {message_id} has {n} tokens (0..{n})")
        assert isinstance(source.prompt, str)
        document = source.prompt + "".join(t.text for t in source.tokens[:at])
        tree = self._grow(lane.model, document, k, depth, min_path_p)
        return TreeView(lane=lane.label, model=lane.model, tree=tree, message_id=message_id, at=at)

    def from_prompt(self, lane: str, prompt: str, k: int, depth: int, min_path_p: float = 0.0) -> TreeView:
        """The tree after a new user message `prompt` on a base lane `MODEL[@MASK]`.

        Raises:
            LaneSpecError, MaskError, ModelUnavailable: a lane that is not a base model's, an unknown mask, or
            k, depth or the threshold out of range.
        """
        check_shape(k, depth, min_path_p)
        spec = parse_lane_spec(lane)
        if spec.steer is not None:
            raise LaneSpecError(f"lane {lane.strip()!r}: {UNSTEERED}; grow it on {spec.model}@{spec.mask}")
        mask = self.conversations.mask(spec.mask)
        if not prompt.strip():
            raise LaneSpecError("the message is empty: a tree starts after a user message")
        document = document_for(mask, [HistoryTurn(role="user", text=prompt)])
        tree = self._grow(spec.model, document, k, depth, min_path_p)
        return TreeView(lane=spec.display_label, model=spec.model, tree=tree)

    def compare(self, lanes: Sequence[str], prompt: str, k: int, depth: int) -> TreeComparison:
        """2–4 lanes' trees on one user message, and where their most likely paths part."""
        if not 2 <= len(lanes) <= 4:
            raise LaneSpecError(f"compare 2 to 4 lanes' trees, not {len(lanes)}")
        views = [self.from_prompt(lane, prompt, k, depth) for lane in lanes]
        return TreeComparison(views=views, parting_depth=parting_depth([v.tree for v in views]))

    def expand(self, view: TreeView, address: Address, k: int, depth: int) -> TreeView:
        """The same tree with the node at `address` grown `depth` more levels of `k` children."""
        path = view.path(address)
        grown = self._grow(view.model, view.tree.document, k, depth, view.tree.min_path_p, path)
        updated = view.model_copy(deep=True)
        node = updated.node(address)
        node.children = grown.children
        updated.tree.truncated |= grown.truncated
        return updated

    def plan_leaf(self, view: TreeView, address: Address) -> Plan:
        """Continue the reply the tree grew from with the path to a node: a branch like a token branch (saved
        when the plan runs), whose first tokens after the reply's first `at` are the path's.

        Raises:
            LaneSpecError: the tree did not grow from a saved reply, or the path ends the text.
        """
        if view.message_id is None or view.at is None:
            raise LaneSpecError("only a tree grown from a saved reply can be continued as a branch of it")
        path = [n for n in view.path(address) if not n.end]
        if not path:
            raise LaneSpecError("this node is the end of the text: there is nothing to continue")
        tokens = [Token(text=n.text, p=n.p, top=[]) for n in path]
        plan = self.conversations.plan_branch(view.message_id, view.at, tokens[0])
        job = plan.jobs[0]
        kept = job.config.prefix[:-1]  # the reply's first `at` tokens
        config = replace(job.config, prefix=(*kept, *tokens))
        # Replay keeps a branch's tokens up to `diverged_at`: here, the whole path the tree chose.
        jobs = [replace(job, config=config, diverged_at=view.at + len(tokens) - 1)]
        return replace(plan, jobs=jobs)

    def run_plan(self, plan: Plan) -> Iterator[Any]:
        with self.conversations.hold(plan.conversation_id, exclusive=False):
            yield from self.conversations.run(plan)

    def _reply(self, message_id: int) -> tuple[SavedMessage, Lane]:
        with Session(self.conversations.engine) as session:
            row = session.get(Message, message_id)
            lane = session.get(Lane, row.lane_id) if row is not None and row.lane_id is not None else None
        if row is None or row.role != "model" or lane is None:
            raise LaneSpecError(f"message {message_id} is not a saved reply")
        source = SavedMessage.from_row(row)
        if lane.kind != "simulator" or not isinstance(source.prompt, str):
            raise LaneSpecError(
                f"message {message_id} is a chat-model reply: only a base-lane reply has a document and token"
                " probabilities to grow a tree from"
            )
        if source.steering is not None:
            raise LaneSpecError(f"message {message_id} was steered ({source.steering.label}): {UNSTEERED}")
        return source, lane

    def _grow(
        self, model: str, document: str, k: int, depth: int, min_path_p: float, path: Sequence[TreeNode] = ()
    ) -> TokenTree:
        entry = self.registry.resolve(model)
        if entry.kind != "simulator":
            raise LaneSpecError(f"{entry.name} is a chat model: it gives no token probabilities to grow a tree")
        simulator: SimulatorProtocol = self.registry.simulator(entry)

        def job() -> Iterator[TokenTree | None]:
            yield (yield from simulator.token_tree(document, k, depth, min_path_p, path))

        items = list(simulator.run_job(job, self.registry.worker))
        return next(item for item in reversed(items) if item is not None)


def parting_depth(trees: Sequence[TokenTree]) -> int | None:
    """The first depth (1-based) where the trees' most likely paths (each node's first child) differ; None when
    they agree as deep as all of them go."""
    levels = [_top_path(tree) for tree in trees]
    for depth in range(max(map(len, levels), default=0)):
        texts = {level[depth] if depth < len(level) else None for level in levels}
        if len(texts) > 1:
            return depth + 1
    return None


def _top_path(tree: TokenTree) -> list[str]:
    texts, children = [], tree.children
    while children:
        texts.append(children[0].text)
        children = children[0].children
    return texts


def _node_json(node: TreeNode) -> dict[str, Any]:
    return {
        "text": node.text,
        "p": node.p,
        "path_p": node.path_p,
        "end": node.end,
        "children": [_node_json(child) for child in node.children],
    }
