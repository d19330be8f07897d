"""A spec becomes a frame one way and a networkx graph one way.

``SpecGraph.nodes_frame()`` / ``edges_frame()`` and ``MonitorData.specs`` / ``dependencies``
name the same things the same, and ``SpecGraph.to_networkx()`` and ``MonitorData.graph()``
give the same nodes the same attributes. (They used to disagree: ``full_hash`` was the key in
one and the ``full_hash`` key as written, missing from Spack 0.18 on, in the other; the
dependency columns were ``parent``/``child`` vs ``parent_hash``/``child_hash``; deptypes a
tuple vs text; the networkx graphs had different attribute sets.)
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from spackmon_analysis import load_install_tree, load_save_local
from spackmon_analysis.spec import load_spec

DATA = Path(__file__).resolve().parent.parent / "data"
PREFIXES = sorted((DATA / "installs").glob("v*/tiny*-*"))


def _cases():
    """(MonitorData, the SpecGraph it read) for a prefix of every release and a 0.17 run."""
    for prefix in PREFIXES:
        spec_file = next(p for p in (prefix / ".spack").iterdir() if p.name.startswith("spec."))
        yield pytest.param(load_install_tree, prefix, spec_file, id=prefix.parent.name)
    run = DATA / "save-local" / "v0.17.1-success-tinyapp"
    spec_file = next(run.glob("spec-tinyapp-*-config.json"))
    yield pytest.param(load_save_local, run, spec_file, id="save-local-0.17.1")


def _plain(value):
    return None if value is None or value is pd.NA or value != value else value


def _rows(frame: pd.DataFrame, columns, key: str) -> dict:
    out = {}
    for values in frame[list(columns)].astype(object).itertuples(index=False, name=None):
        row = tuple(_plain(v) for v in values)
        out[row[list(columns).index(key)]] = row
    return out


@pytest.mark.parametrize(("loader", "path", "spec_file"), list(_cases()))
def test_spec_frames_and_graphs_agree(loader, path: Path, spec_file: Path) -> None:
    data = loader(path)
    graph = load_spec(spec_file)
    spec_cols = list(data.specs.columns)
    nodes = graph.nodes_frame()
    assert set(spec_cols) <= set(nodes.columns)
    mine = _rows(nodes, spec_cols, "full_hash")
    theirs = _rows(data.specs, spec_cols, "full_hash")
    assert mine == {k: theirs[k] for k in mine}  # every node of the file, the same values
    assert all(row[spec_cols.index("dag_hash")] for row in mine.values())

    dep_cols = list(data.dependencies.columns)
    edges = graph.edges_frame()
    assert list(edges.columns[: len(dep_cols)]) == dep_cols
    mine_e = {
        tuple(r[:2]): tuple(r) for r in edges[dep_cols].astype(object).itertuples(index=False)
    }
    theirs_e = {
        tuple(r[:2]): tuple(r)
        for r in data.dependencies.astype(object).itertuples(index=False, name=None)
    }
    assert len(mine_e) == len(graph.edges) and mine_e == {k: theirs_e[k] for k in mine_e}

    g1, g2 = graph.to_networkx(), data.graph()
    assert set(g1.nodes) <= set(g2.nodes)
    for key in g1.nodes:
        a, b = g1.nodes[key], g2.nodes[key]
        assert {c: a.get(c) for c in spec_cols} == {c: b[c] for c in spec_cols}, key
    for u, v in g1.edges:
        assert g1.edges[u, v]["deptypes"] == g2.edges[u, v]["deptypes"]


def test_the_shared_columns_are_monitor_datas() -> None:
    from spackmon_analysis.records import FRAME_COLUMNS
    from spackmon_analysis.spec import DEPENDENCY_COLUMNS, SPEC_COLUMNS

    assert [c for c, _, _ in FRAME_COLUMNS["specs"]] == list(SPEC_COLUMNS)
    assert [c for c, _, _ in FRAME_COLUMNS["dependencies"]] == list(DEPENDENCY_COLUMNS)
