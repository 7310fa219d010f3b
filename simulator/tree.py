"""Token trees: the top-k next tokens after a document, each expanded in turn to a depth, with each node's
probability given its parent and its path probability (issue 20).

In-process, a tree forks the KV cache instead of re-reading prefixes: the document is read once on sequence 0
of a batch context (`simulator.batch`: one KV stream per sequence), and each node to expand gets a sequence
holding its parent's path, copied with `llama_memory_seq_cp` (the first child takes its parent's own), so a node
costs one decoded token. The nodes of a depth are decoded together, one sequence per node, in shared batches of
at most `simulator.batch.EXACT_ROWS` rows: as for batched samples, that keeps every logit bit-identical to the lane's
own decode, so a node's p is the probability the lane gives that token after that prefix (a unified KV buffer,
which would share the parent's cells instead of copying them, moved p by up to 0.05 on gemma-3-270m).

`TreeNode` and `TokenTree` are the plain values a tree is returned as, in-process or from a server
(`simulator.remote` asks for one node at a time).
"""

from __future__ import annotations

import codecs
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Protocol, cast

import llama_cpp
import numpy as np
from pydantic import BaseModel, Field

from simulator.batch import EXACT_ROWS, cells_for
from simulator.contexts import Context, read_prompt
from simulator.errors import LaneError, PromptTooLong

if TYPE_CHECKING:
    from llama_cpp import _internals as internals

    from simulator.batch import BatchPool
    from simulator.remote_apis import RemoteToken
    from simulator.watchdog import Timeouts


class LocalModel(Protocol):
    """What a tree needs of an in-process simulator (`simulator.base.Simulator`)."""

    name: str
    n_ctx: int
    _batches: BatchPool

    def tokenize(self, text: str) -> list[int]: ...

    def _piece(self, token_id: int) -> bytes: ...

    def _loaded(self) -> internals.LlamaModel: ...


class LocalTrees:
    """`token_tree` for `simulator.base.Simulator` (a `LocalModel`)."""

    def token_tree(
        self, document: str, k: int, depth: int, min_path_p: float = 0.0, path: Sequence[TreeNode] = ()
    ) -> Generator[None, None, TokenTree]:
        """The top-k token tree after `document` (then `path`), forking the KV cache per node."""
        return tree_job(cast(LocalModel, self), document, (k, depth, min_path_p), path)


class _Probe(Protocol):
    @property
    def model(self) -> str: ...

    @property
    def logprobs(self) -> bool: ...

    @property
    def top_k(self) -> int: ...


class ServerModel(Protocol):
    """What a tree needs of a server lane (`simulator.remote.RemoteSimulator`)."""

    name: str
    timeouts: Timeouts

    def probe(self) -> _Probe: ...

    def _one_token(
        self, model: str, prompt: str, k: int, *, read: float | None = None, cache: bool = False
    ) -> list[RemoteToken]: ...


class ServerTrees:
    """`token_tree` for `simulator.remote.RemoteSimulator` (a `ServerModel`)."""

    def token_tree(
        self, document: str, k: int, depth: int, min_path_p: float = 0.0, path: Sequence[TreeNode] = ()
    ) -> Generator[None, None, TokenTree]:
        """One request per node (`text_tree`), the server's prompt cache on."""
        server = cast(ServerModel, self)
        probe = server.probe()
        one = partial(server._one_token, probe.model, read=server.timeouts.total, cache=True)
        return server_tree(
            server.name, probe.top_k if probe.logprobs else 0, one, document, (k, depth, min_path_p), path
        )


MAX_K = 10
MAX_DEPTH = 8
MAX_NODES = 2000  # a tree stops growing here: 10 children to depth 8 would be a hundred million nodes
MAX_STREAMS = 64  # nodes decoded per depth at most (the most probable), each on a KV stream of its own
STREAM_CELLS = 16384  # and their streams' cells at most (about 300 MB on gemma-3-270m)
ROWS = 2  # nodes per decode: 4 or more rows take another kernel, and a node's p would move by up to 0.01


class TreeNode(BaseModel):
    """One next token: `p` given its parent's path, `path_p` the product down from the root. `end` marks the
    model's end of text (nothing follows it); `token_id` is the model's own id, when the tree is in-process."""

    text: str
    p: float
    path_p: float
    end: bool = False
    token_id: int | None = None
    children: list[TreeNode] = Field(default_factory=list)

    def leaves(self) -> list[TreeNode]:
        return [self] if not self.children else [leaf for child in self.children for leaf in child.leaves()]

    def count(self) -> int:
        return 1 + sum(child.count() for child in self.children)


class TokenTree(BaseModel):
    """The tree after `document` (the exact text expanded): its first tokens, sorted by p, and how it grew."""

    document: str
    children: list[TreeNode]
    k: int
    depth: int
    min_path_p: float = 0.0
    truncated: bool = False  # MAX_NODES or the streams at hand left some nodes unexpanded

    def leaves(self) -> list[TreeNode]:
        return [leaf for child in self.children for leaf in child.leaves()]

    def coverage(self) -> float:
        """The probability mass the leaves cover: the chance a sampled continuation's start is in the tree."""
        return sum(leaf.path_p for leaf in self.leaves())

    def count(self) -> int:
        return sum(child.count() for child in self.children)


def check_shape(k: int, depth: int, min_path_p: float) -> None:
    """Raises LaneError (in words) for a tree this module will not grow."""
    if not 1 <= k <= MAX_K:
        raise LaneError(f"k must be between 1 and {MAX_K} (got {k})")
    if not 1 <= depth <= MAX_DEPTH:
        raise LaneError(f"the depth must be between 1 and {MAX_DEPTH} (got {depth})")
    if not 0.0 <= min_path_p < 1.0:
        raise LaneError(f"the path probability threshold must be in [0, 1) (got {min_path_p})")


@dataclass
class _Open:
    """A node waiting to be decoded, on the sequence that holds its parent's path."""

    node: TreeNode
    seq: int
    pieces: bytes  # the path's bytes down to this node, for decoding the children's text


@dataclass(frozen=True)
class Vocabulary:
    """What the tree needs of the model's vocabulary, as plain callables."""

    piece: Callable[[int], bytes]
    is_end: Callable[[int], bool]


def grow(
    context: Context,
    prompt: Sequence[int],
    shape: tuple[int, int, float],
    vocabulary: Vocabulary,
    prefix: bytes = b"",
    start_p: float = 1.0,
) -> Generator[None, None, tuple[list[TreeNode], bool]]:
    """Read `prompt` on sequence 0 of `context` and grow the tree of `shape` (k, depth, least path p) after it,
    as a step-wise job: yields after each decode, returns (the first tokens, whether the tree was cut short).
    `prefix` is the bytes of the prompt's tail a node's text may complete, `start_p` the prompt tail's path p.

    Raises:
        LaneError: llama.cpp refused a batch.
    """
    k, depth, min_path_p = shape
    for seq in range(1, context.sequences):
        context.native.kv_cache_seq_rm(seq, -1, -1)
    yield from read_prompt(context, prompt, range(0), last=True)
    roots = _children(context.logits(-1), k, start_p, prefix, vocabulary)
    open_nodes = [_Open(n, 0, prefix + vocabulary.piece(n.token_id or 0)) for n in roots]
    free, nodes, truncated = list(range(context.sequences - 1, 0, -1)), len(roots), False
    for level in range(1, depth):
        expandable = sorted(
            (o for o in open_nodes if not o.node.end and o.node.path_p >= min_path_p), key=lambda o: -o.node.path_p
        )
        room = min(context.sequences - 1, (MAX_NODES - nodes) // k)
        truncated |= len(expandable) > room
        expandable = expandable[: max(0, room)]
        free = _fork(context, expandable, free, {o.seq for o in open_nodes} - {0})
        for start in range(0, len(expandable), ROWS):
            group = expandable[start : start + ROWS]
            _decode(context, group, len(prompt) + level - 1)
            for row, item in enumerate(group):
                item.node.children = _children(context.logits(row), k, item.node.path_p, item.pieces, vocabulary)
                nodes += len(item.node.children)
            yield None
        open_nodes = [
            _Open(child, o.seq, o.pieces + vocabulary.piece(child.token_id or 0))
            for o in expandable
            for child in o.node.children
        ]
    return roots, truncated


def _fork(context: Context, expandable: list[_Open], free: list[int], held: set[int]) -> list[int]:
    """Give each node to decode a sequence of its own holding its parent's path: the first child of a parent
    takes over the parent's sequence, the others get a copy of it (all copies before any decode writes to
    it). Sequences no node takes are emptied. Returns the sequences left free."""
    taken: set[int] = set()
    for item in expandable:
        if item.seq != 0 and item.seq not in taken:
            taken.add(item.seq)
    for seq in held - taken:
        context.native.kv_cache_seq_rm(seq, -1, -1)
        free.append(seq)
    owners: set[int] = set()
    for item in expandable:
        if item.seq != 0 and item.seq not in owners:
            owners.add(item.seq)
            continue
        seq = free.pop()
        context.native.kv_cache_seq_rm(seq, -1, -1)
        context.native.kv_cache_seq_cp(item.seq, seq, -1, -1)
        item.seq = seq
    return free


def _decode(context: Context, items: list[_Open], position: int) -> None:
    """One batch: each node's token on its own sequence, after its parent's path."""
    batch = context.batch.batch
    batch.n_tokens = len(items)
    for j, item in enumerate(items):
        batch.token[j] = item.node.token_id
        batch.pos[j] = position
        batch.n_seq_id[j] = 1
        batch.seq_id[j][0] = item.seq
        batch.logits[j] = True
    code = context.run(batch)
    if code != 0:
        raise LaneError(f"llama.cpp could not decode {len(items)} tree nodes at position {position} (code {code})")


def _children(logits: np.ndarray, k: int, path_p: float, pieces: bytes, vocabulary: Vocabulary) -> list[TreeNode]:
    """The top-k next tokens from one row of logits, most probable first."""
    peak = float(logits.max())
    log_total = peak + float(np.log(np.exp(logits - peak, dtype=np.float64).sum()))
    candidates = np.argpartition(logits, -k)[-k:]
    candidates = candidates[np.argsort(-logits[candidates], kind="stable")]
    children = []
    for token_id in (int(i) for i in candidates):
        p = float(np.exp(float(logits[token_id]) - log_total))
        end = vocabulary.is_end(token_id)
        text = "" if end else piece_text(pieces, vocabulary.piece(token_id))
        children.append(TreeNode(text=text, p=p, path_p=path_p * p, end=end, token_id=token_id))
    return children


def piece_text(before: bytes, piece: bytes) -> str:
    """The text `piece` adds after the bytes `before`: a piece that ends inside a character adds nothing
    until the token that finishes it, so a path's texts join into exactly its decoded bytes."""
    shown = _decoded(before)
    after = _decoded(before + piece)
    return after[len(shown) :] if after.startswith(shown) else piece.decode("utf-8", errors="replace")


def _decoded(data: bytes) -> str:
    return codecs.getincrementaldecoder("utf-8")(errors="replace").decode(data, final=False)


def tree_job(
    simulator: LocalModel, document: str, shape: tuple[int, int, float], path: Sequence[TreeNode]
) -> Generator[None, None, TokenTree]:
    """The tree of `shape` (k, depth, least path p) after `document` and then `path` (nodes of an earlier tree,
    root first), as a step-wise job for the local worker, on a context of the simulator's batch pool.

    Raises:
        LaneError: k, depth or the threshold out of range, or llama.cpp refused a batch.
        PromptTooLong: the document leaves no room for the tree.
    """
    k, depth, min_path_p = shape
    check_shape(k, depth, min_path_p)
    prompt = simulator.tokenize(document) + [_token_id(simulator, node) for node in path]
    if len(prompt) + depth > simulator.n_ctx:
        raise PromptTooLong(f"the document has {len(prompt)} tokens; {simulator.name} holds {simulator.n_ctx}")
    cells = cells_for(len(prompt) + depth, simulator.n_ctx)
    streams = 1 + min(MAX_STREAMS, max(EXACT_ROWS, STREAM_CELLS // cells))
    context = simulator._batches.acquire(prompt, streams, cells)
    try:
        vocabulary = Vocabulary(simulator._piece, partial(llama_cpp.llama_vocab_is_eog, simulator._loaded().vocab))
        pieces = b"".join(simulator._piece(_token_id(simulator, node)) for node in path)
        start_p = path[-1].path_p if path else 1.0
        children, truncated = yield from grow(context, prompt, shape, vocabulary, pieces, start_p)
    finally:
        simulator._batches.release(context)
    return TokenTree(document=document, children=children, k=k, depth=depth, min_path_p=min_path_p, truncated=truncated)


def _token_id(simulator: LocalModel, node: TreeNode) -> int:
    if node.token_id is not None:
        return node.token_id
    ids = simulator.tokenize(node.text)[1:]  # a node from a server: its text, as this model reads it
    if len(ids) != 1:
        raise LaneError(f"the token {node.text!r} is not one token of {simulator.name}")
    return ids[0]


def text_tree(
    ask: Callable[[str], list[tuple[str, float]]],
    document: str,
    shape: tuple[int, int, float],
    path: Sequence[TreeNode],
) -> Generator[None, None, TokenTree]:
    """A tree from a server: `ask(text)` is one request for the top next tokens after `text` (max_tokens 1,
    top logprobs), made once per node, depth by depth; the server's prompt cache keeps each re-read short.
    Nodes are texts, so a node is the server's token as text and carries no id.

    Raises:
        LaneError: k, depth or the threshold out of range.
    """
    k, depth, min_path_p = shape
    check_shape(k, depth, min_path_p)
    start = document + "".join(node.text for node in path)
    base_p = path[-1].path_p if path else 1.0

    def children(text: str, path_p: float) -> list[TreeNode]:
        top = sorted(ask(text), key=lambda t: -t[1])[:k]
        return [TreeNode(text=t, p=p, path_p=path_p * p, end=not t) for t, p in top]

    roots = children(start, base_p)
    level, nodes, truncated = [(start, n) for n in roots], len(roots), False
    for _ in range(1, depth):
        expandable = sorted(
            ((text, n) for text, n in level if not n.end and n.path_p >= min_path_p), key=lambda item: -item[1].path_p
        )
        room = (MAX_NODES - nodes) // k
        truncated |= len(expandable) > room
        for text, node in expandable[: max(0, room)]:
            node.children = children(text + node.text, node.path_p)
            nodes += len(node.children)
            yield None
        level = [(text + n.text, c) for text, n in expandable[: max(0, room)] for c in n.children]
    return TokenTree(document=document, children=roots, k=k, depth=depth, min_path_p=min_path_p, truncated=truncated)


def server_tree(
    name: str,
    top_k: int,
    one_token: Callable[[str, int], list[RemoteToken]],
    document: str,
    shape: tuple[int, int, float],
    path: Sequence[TreeNode],
) -> Generator[None, None, TokenTree]:
    """`text_tree` on the server lane `name`, which returns the `top_k` most likely tokens (0: no probabilities)
    of the one token `one_token(text, k)` asks for.

    Raises:
        LaneError: the server returns no token probabilities, or fewer than k of them.
    """
    if not top_k:
        raise LaneError(f"{name} returns no token probabilities, so it cannot grow a token tree")
    if shape[0] > top_k:
        raise LaneError(f"{name} returns the top {top_k} tokens at most: ask for k ≤ {top_k}")

    def ask(text: str) -> list[tuple[str, float]]:
        tokens = one_token(text, shape[0])
        return [(alt.text, alt.p) for alt in tokens[0].top] if tokens else []

    return text_tree(ask, document, shape, path)
