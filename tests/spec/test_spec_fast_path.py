"""The fast column reader against the checked reader: same graphs, same frames, same errors.

``load_spec`` reads well-formed node lists with ``spec.parse._fast_columns``; anything unusual
goes to the checked reader, whose objects become the same columns (the one backing of a
``SpecGraph``); ``SpecNode`` / ``SpecEdge`` objects are built from them only when asked. These
tests load every document both ways (the checked way by disabling the fast reader) and
compare everything a caller can see.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import random
from pathlib import Path

import pandas as pd
import pytest

from spackmon_analysis.errors import SpecFormatError
from spackmon_analysis.spackfacts import variants_text
from spackmon_analysis.spec import load_spec
from spackmon_analysis.spec import parse as spec_parse
from spackmon_analysis.synth import ERAS, generate_spec_document

SPECS = Path(__file__).resolve().parent.parent / "data" / "specs"
FIXTURES = sorted(p for p in SPECS.iterdir() if p.suffix in (".json", ".yaml"))


def _checked(source, monkeypatch):
    with monkeypatch.context() as m:
        m.setattr(spec_parse, "_try_fast", lambda bodies, list_format: None)
        return load_spec(source)


def _outcome(source, monkeypatch, checked: bool):
    try:
        g = _checked(source, monkeypatch) if checked else load_spec(source)
    except SpecFormatError as exc:
        return ("error", str(exc), exc.path)
    return ("graph", g)


def _assert_same(fast, slow) -> None:
    assert (fast.format, fast.source, fast.spack_version) == (
        slow.format,
        slow.source,
        slow.spack_version,
    )
    assert len(fast) == len(slow)
    assert fast.roots == slow.roots
    # frames first, before any object is built, then again after
    pd.testing.assert_frame_equal(fast.nodes_frame(), slow.nodes_frame())
    pd.testing.assert_frame_equal(fast.edges_frame(), slow.edges_frame())
    for h in slow._index:
        assert fast.find(h).key == slow.find(h).key
        assert h in fast
    assert fast._index == slow._index
    assert list(fast.nodes) == list(slow.nodes)
    for key, n in slow.nodes.items():
        m = fast.nodes[key]
        assert dataclasses.asdict(m) == dataclasses.asdict(n), key
        assert list(m.hashes) == list(n.hashes)
        assert (m.variants, m.compiler, m.full_hash, m.dag_hash) == (
            n.variants,
            n.compiler,
            n.full_hash,
            n.dag_hash,
        )
    assert fast.edges == slow.edges
    # frames again, once the objects exist
    pd.testing.assert_frame_equal(fast.nodes_frame(), slow.nodes_frame())
    pd.testing.assert_frame_equal(fast.edges_frame(), slow.edges_frame())
    assert [n.key for n in fast.dependencies(transitive=True)] == [
        n.key for n in slow.dependencies(transitive=True)
    ]


@pytest.mark.parametrize("era", ERAS)
@pytest.mark.parametrize("seed", [0, 1])
def test_synthetic_documents_take_the_fast_path_and_match(era: str, seed: int, monkeypatch) -> None:
    doc = generate_spec_document(300, era=era, seed=seed)
    data = json.dumps(doc).encode()
    fast = load_spec(data)
    assert fast._cols is not None and fast._nodes is None  # the fast reader read it
    _assert_same(fast, _checked(data, monkeypatch))


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: p.name)
def test_fixtures_match_the_checked_reader(path: Path, monkeypatch) -> None:
    _assert_same(load_spec(path), _checked(path, monkeypatch))


def test_objects_are_built_once_and_cannot_drift_from_the_frames() -> None:
    """One backing: the objects are built from the columns once, and are read-only, so no
    view can disagree with another (a node changed after the frames were made used to show
    in some views and not in others)."""
    g = load_spec(generate_spec_document(50, era="v4", seed=3))
    nodes = g.nodes
    assert g.nodes is nodes and g.edges is g.edges
    assert g.root is nodes[g.roots[0]]
    with pytest.raises(dataclasses.FrozenInstanceError):
        nodes[g.roots[0]].version = "changed"  # type: ignore[misc]
    assert g.nodes_frame().loc[0, "version"] == nodes[g.roots[0]].version


def test_by_name_fallback_and_unusual_values_take_the_checked_path(monkeypatch) -> None:
    doc = generate_spec_document(40, era="v4", seed=5)
    nodes = doc["spec"]["nodes"]
    # a reference no hash resolves, with a unique name: the by-name fallback
    entry = nodes[0]["dependencies"][0]
    entry["hash"] = "nothere"
    nodes[1]["version"] = 1.5  # numeric version: read as "1.5"
    nodes[2]["compiler"] = {"name": "gcc", "version": ["9", "10"]}  # version range list
    assert spec_parse._try_fast(nodes, False) is None  # the checked reader reads it
    g = load_spec(doc)
    _assert_same(g, _checked(doc, monkeypatch))


MUTATIONS = [None, 0, 7, 1.5, True, False, "", "x", [], ["x"], [1], {}, {"a": 1}, [[]]]


def _paths(obj, path=()):
    yield path
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _paths(v, (*path, k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _paths(v, (*path, i))


@pytest.mark.parametrize("era", ERAS)
def test_mutated_documents_give_the_same_graph_or_the_same_error(era: str, monkeypatch) -> None:
    """Replace one value anywhere (or drop a key) and compare both readers' outcome."""
    base = generate_spec_document(12, era=era, seed=11)
    paths = [p for p in _paths(base) if len(p) > 2]
    rng = random.Random(era)
    for _ in range(80):
        doc = copy.deepcopy(base)
        path = rng.choice(paths)
        parent = doc
        for k in path[:-1]:
            parent = parent[k]
        if isinstance(parent, dict) and rng.random() < 0.2:
            del parent[path[-1]]
        else:
            parent[path[-1]] = copy.deepcopy(rng.choice(MUTATIONS))
        fast = _outcome(copy.deepcopy(doc), monkeypatch, checked=False)
        slow = _outcome(copy.deepcopy(doc), monkeypatch, checked=True)
        assert fast[0] == slow[0], (path, fast, slow)
        if fast[0] == "error":
            assert fast == slow, path
        else:
            _assert_same(fast[1], slow[1])


def test_collector_state_and_callers_frozen_objects_are_kept() -> None:
    import gc

    doc = generate_spec_document(30, era="v4", seed=2)
    assert gc.isenabled()
    load_spec(doc).nodes_frame()
    assert gc.isenabled()
    gc.disable()
    try:
        load_spec(doc).edges_frame()
        assert not gc.isenabled()
    finally:
        gc.enable()
    # The caller's frozen objects stay frozen: load_spec must not unfreeze them (which would
    # move every one of them back into the collected generations, count 0). The count itself
    # may drop a little: frozen objects that are freed meanwhile (pandas caches, objects of
    # other threads) leave the permanent generation.
    gc.freeze()
    try:
        frozen = gc.get_freeze_count()
        assert frozen > 0
        load_spec(doc).nodes_frame()
        assert gc.get_freeze_count() >= 0.99 * frozen
    finally:
        gc.unfreeze()


def _reference_nodes_frame(g) -> pd.DataFrame:
    """nodes_frame written plainly: straight from the SpecNode objects."""
    import numpy as np

    nodes = list(g.nodes.values())
    roots = set(g.roots)
    children, _ = g._adjacency()

    def categorical(values):
        codes_of: dict = {}
        codes = [-1 if v is None else codes_of.setdefault(v, len(codes_of)) for v in values]
        return pd.Categorical.from_codes(np.array(codes, dtype=np.int32), categories=list(codes_of))

    def text(values):
        return pd.array(values, dtype="str")

    cols = {
        "key": text([n.key for n in nodes]),
        "full_hash": text([n.key for n in nodes]),
        "name": text([n.name for n in nodes]),
        "version": text([n.version for n in nodes]),
        "compiler": categorical([n.compiler for n in nodes]),
    }
    for c in ("compiler_name", "compiler_version", "platform", "os", "target", "namespace"):
        cols[c] = categorical([getattr(n, c) for n in nodes])
    cols["external"] = np.array([n.external for n in nodes], dtype=bool)
    cols["dag_hash"] = text([n.hashes.get("hash") or n.hashes.get("dag_hash") for n in nodes])
    cols["build_hash"] = text([n.hashes.get("build_hash") for n in nodes])
    cols["variants_text"] = text([variants_text(n.parameters) for n in nodes])
    cols["build_spec"] = text([n.build_spec for n in nodes])
    for h in ("hash", "package_hash"):
        cols[h] = text([n.hashes.get(h) for n in nodes])
    cols["external_path"] = text([n.external_path for n in nodes])
    cols["is_root"] = np.array([n.key in roots for n in nodes], dtype=bool)
    cols["n_dependencies"] = np.array([len(children[n.key]) for n in nodes], dtype=np.int64)
    variants = np.empty(len(nodes), dtype=object)
    variants[:] = [n.variants for n in nodes]
    cols["variants"] = variants
    cols["provenance"] = np.array([n.key in g.provenance for n in nodes], dtype=bool)
    return pd.DataFrame(cols)


def _reference_edges_frame(g) -> pd.DataFrame:
    import numpy as np

    edges, nodes = g.edges, g.nodes
    virtuals = np.empty(len(edges), dtype=object)
    virtuals[:] = [e.virtuals for e in edges]
    cols = {
        "parent_hash": pd.array([e.parent for e in edges], dtype="str"),
        "child_hash": pd.array([e.child for e in edges], dtype="str"),
        "parent_name": pd.array([nodes[e.parent].name for e in edges], dtype="str"),
        "child_name": pd.array([nodes[e.child].name for e in edges], dtype="str"),
        "deptypes": pd.array([",".join(sorted(e.deptypes)) for e in edges], dtype="str"),
        "virtuals": virtuals,
    }
    for t in ("build", "link", "run", "test"):
        cols[t] = np.array([t in e.deptypes for e in edges], dtype=bool)
    return pd.DataFrame(cols)


@pytest.mark.parametrize(
    "source",
    [
        SPECS / "zlib-spack-0.19.0.json",
        SPECS / "tinyapp-spack-0.22.1.json",
        SPECS / "tinyapp-spack-0.16.3.json",
    ]
    + [generate_spec_document(200, era=era, seed=4) for era in ERAS],
    ids=lambda s: s.name if isinstance(s, Path) else "synthetic",
)
def test_frames_equal_the_plain_construction(source) -> None:
    g = load_spec(source)
    nodes, edges = g.nodes_frame(), g.edges_frame()  # from the columns
    pd.testing.assert_frame_equal(nodes, _reference_nodes_frame(load_spec(source)))
    pd.testing.assert_frame_equal(edges, _reference_edges_frame(load_spec(source)))


def _varied_document(n: int = 300) -> dict:
    """Many distinct compiler/arch/namespace combinations, some missing, some virtuals."""
    doc = generate_spec_document(n, era="v4", seed=6)
    rng = random.Random(6)
    for i, body in enumerate(doc["spec"]["nodes"]):
        if i % 3 == 0:
            # (the generator shares arch and parameters objects between nodes: replace, not edit)
            body["arch"] = {**body["arch"], "target": f"target{i}"}  # 300 nodes: > 75 combinations
        if i % 5 == 0:
            body["compiler"] = {"name": f"cc{rng.randrange(9)}", "version": None}
        if i % 7 == 0:
            del body["namespace"]
        for entry in body.get("dependencies", ()):
            if rng.random() < 0.3:
                virtuals = rng.choice([["mpi"], ["blas", "lapack"], "mpi", []])
                entry["parameters"] = {**entry["parameters"], "virtuals": virtuals}
    return doc


@pytest.mark.parametrize("n", [5, 300])
def test_frames_with_many_categories_equal_the_plain_construction(n: int, monkeypatch) -> None:
    """Few and many distinct combinations (the joint factorization and its fallback)."""
    doc = _varied_document(n)
    g = load_spec(copy.deepcopy(doc))
    assert g._cols is not None
    pd.testing.assert_frame_equal(
        g.nodes_frame(), _reference_nodes_frame(load_spec(copy.deepcopy(doc)))
    )
    pd.testing.assert_frame_equal(
        g.edges_frame(), _reference_edges_frame(load_spec(copy.deepcopy(doc)))
    )
    _assert_same(load_spec(copy.deepcopy(doc)), _checked(copy.deepcopy(doc), monkeypatch))


@pytest.mark.parametrize("value", ["", 0, False, {}])
def test_falsy_non_list_virtuals_read_like_the_checked_reader(value, monkeypatch) -> None:
    doc = generate_spec_document(20, era="v5", seed=8)
    doc["spec"]["nodes"][0]["dependencies"][0]["parameters"]["virtuals"] = value
    fast = _outcome(copy.deepcopy(doc), monkeypatch, checked=False)
    slow = _outcome(copy.deepcopy(doc), monkeypatch, checked=True)
    assert fast[0] == slow[0]
    if fast[0] == "graph":
        _assert_same(fast[1], slow[1])
    else:
        assert fast == slow
