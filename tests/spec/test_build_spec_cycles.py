"""The check that no node is built as itself (``build_spec`` links leading back to a node): the
same nodes as following each node's links one by one, in one pass over the links (a chain of
spliced nodes in a request body cost the server's write lock quadratic time)."""

from __future__ import annotations

import json
import random

import pytest

from spackmon_analysis.errors import SpecFormatError
from spackmon_analysis.spec import load_spec
from spackmon_analysis.spec.parse import _build_spec_cycles


def _comes_back(start: int, built_as: dict[int, int]) -> bool:
    """The rule stated plainly: follow the links from ``start``; on it coming back."""
    seen, node = set(), built_as.get(start)
    while node is not None and node not in seen:
        if node == start:
            return True
        seen.add(node)
        node = built_as.get(node)
    return False


@pytest.mark.parametrize("seed", range(40))
def test_the_nodes_on_cycles_are_those_whose_links_come_back(seed: int) -> None:
    rng = random.Random(seed)
    n = rng.randint(1, 30)
    built_as = {i: rng.randrange(n) for i in range(n) if rng.random() < 0.7}
    want = {i for i in built_as if _comes_back(i, built_as)}
    assert _build_spec_cycles(built_as) == want


def _hash(i: int) -> str:
    return "".join("abcdefghijklmnopqrstuvwxyz234567"[(i >> (5 * k)) % 32] for k in range(32))


def _chain(n: int, back_to: int | None) -> str:
    """A spec document of ``n`` nodes, each spliced and built as the next; the last one built
    as node ``back_to`` (None: not spliced)."""
    nodes = []
    for i in range(n):
        node = {"name": f"p{i}", "version": "1.0", "namespace": "builtin", "hash": _hash(i)}
        target = i + 1 if i + 1 < n else back_to
        if target is not None:
            node["build_spec"] = {"name": f"p{target}", "hash": _hash(target)}
        nodes.append(node)
    return json.dumps({"spec": {"_meta": {"version": 4}, "nodes": nodes}})


def test_a_long_chain_of_spliced_nodes_loads_and_a_loop_at_its_end_is_named() -> None:
    graph = load_spec(_chain(20_000, None))
    assert len(graph.nodes) == 20_000
    with pytest.raises(SpecFormatError, match=r"nodes\[19990\]\.build_spec.*built as itself"):
        load_spec(_chain(20_000, 19_990))
