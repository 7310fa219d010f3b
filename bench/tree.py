"""A token tree grown by forking the KV cache against the same nodes expanded by re-reading each prefix.

A k=3, depth-4 tree (3 + 9 + 27 + 81 = 120 nodes) after the assistant mask's document for a question, on the
bundled gemma-3-270m: `Simulator.token_tree` (document read once, each node's cache copied from its parent's,
the nodes of a depth decoded together) against, for every node that has children, a fresh read of the document
then that node's path token by token, as a lane decodes, and its top-3 read from the last logits: what a tree
costs without sequence copies.
Alternating rounds so machine noise hits both alike; prints each one's time (median), the ratio (target: at least
3) and whether both give every node the same token and probability (within 1e-4).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import numpy as np

from personas.catalog import load_mask
from personas.mask import HistoryTurn
from simulator.base import Simulator, drain
from simulator.bundled import gemma_base_path
from simulator.contexts import read_prompt
from simulator.tree import TokenTree, TreeNode

QUESTION = "What is the capital of France? Please answer in one short sentence."
TARGET = 3.0
K, DEPTH = 3, 4


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()

    simulator = Simulator(gemma_base_path(), n_threads=args.threads)
    document = load_mask("assistant").render([HistoryTurn(role="user", text=QUESTION)])
    prompt = simulator.tokenize(document)
    reference = simulator._new_context("bench-tree")

    def forked() -> tuple[float, TokenTree]:
        started = time.perf_counter()
        tree = drain(simulator.token_tree(document, K, DEPTH))
        return time.perf_counter() - started, tree

    def top_k(path: list[int]) -> list[tuple[int, float]]:
        """The top-k after the document and `path`, every token read again from the start."""
        reference.truncate(0)
        drain(read_prompt(reference, prompt, range(0), last=True))
        for token in path:  # one at a time, as a lane decodes a reply, so both read the same logits
            reference.decode([token], lambda _: True)
        logits = reference.logits(-1).astype(np.float64)
        p = np.exp(logits - logits.max())
        p /= p.sum()
        best = np.argsort(-logits, kind="stable")[:K]
        return [(int(i), float(p[i])) for i in best]

    def reread(tree: TokenTree) -> tuple[float, bool]:
        """Expand every node of `tree` that has children again, re-reading its prefix; whether all agree."""
        started, same = time.perf_counter(), True
        stack: list[tuple[list[int], list[TreeNode]]] = [([], tree.children)]
        while stack:
            path, children = stack.pop()
            expected = top_k(path)
            got = [(child.token_id, child.p) for child in children]
            same = same and [t for t, _ in expected] == [t for t, _ in got]
            same = same and all(abs(a - b) <= 1e-4 for (_, a), (_, b) in zip(expected, got, strict=True))
            stack += [([*path, c.token_id or 0], c.children) for c in children if c.children]
        return time.perf_counter() - started, same

    _, tree = forked()  # warm-up: page in the weights, make both contexts
    reread(tree)
    tree_times, reread_times, same = [], [], True
    for _ in range(args.rounds):
        reread_time, agree = reread(tree)
        tree_time, tree = forked()
        reread_times.append(reread_time)
        tree_times.append(tree_time)
        same = same and agree
    tree_time, reread_time = statistics.median(tree_times), statistics.median(reread_times)
    ratio = reread_time / tree_time
    print(
        f"threads: {simulator.n_threads or 'fitted to the free cores'}, document: {len(prompt)} tokens,"
        f" tree: k={K} depth={DEPTH}, {tree.count()} nodes"
    )
    print(f"re-reading each prefix: {reread_time * 1000:7.0f} ms (reference)")
    print(f"forked KV cache:        {tree_time * 1000:7.0f} ms")
    print(f"every node the same token and p (within 1e-4): {'yes' if same else 'NO'}")
    print(f"ratio: {ratio:.2f}  (target >= {TARGET}: {'met' if ratio >= TARGET else 'NOT met'})")
    return 0 if ratio >= TARGET and same else 1


if __name__ == "__main__":
    sys.exit(main())
