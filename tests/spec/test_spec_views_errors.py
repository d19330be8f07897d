"""Frames, networkx, diff, malformed input (hypothesis) and the synthetic generators."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spackmon_analysis.errors import SpecFormatError
from spackmon_analysis.loaders.savelocal import read_save_local
from spackmon_analysis.spec import load_spec
from spackmon_analysis.synth import ERAS, generate_save_local, generate_spec_document

DATA = Path(__file__).resolve().parent.parent / "data"
SPECS = DATA / "specs"
ROOT = Path(__file__).resolve().parent.parent.parent


def test_nodes_frame_dtypes_and_rows() -> None:
    g = load_spec(SPECS / "tinyapp-spack-0.22.1.json")
    f = g.nodes_frame()
    assert len(f) == 6 and list(f["key"]) == list(g.nodes)
    for col in ("platform", "os", "target", "compiler_name", "namespace"):
        assert isinstance(f[col].dtype, pd.CategoricalDtype), col
    assert f["external"].dtype == bool and f["is_root"].dtype == bool
    assert f.loc[f["name"] == "glibc", "external"].item()
    assert f["is_root"].sum() == 1 and f.loc[f["is_root"], "name"].item() == "tinyapp"
    assert set(f["namespace"]) == {"builtin", "tinyrepo"}
    assert f.loc[f["name"] == "tinyapp", "n_dependencies"].item() == 5


def test_edges_frame() -> None:
    g = load_spec(SPECS / "tinyapp-spack-0.22.1.json")
    e = g.edges_frame()
    assert len(e) == len(g.edges) == 13
    row = e[(e.parent_name == "tinyapp") & (e.child_name == "glibc")].iloc[0]
    assert row["virtuals"] == ("libc",) and row["link"] and not row["build"]
    assert e["build"].dtype == bool


def test_to_networkx() -> None:
    g = load_spec(ROOT / "specs" / "singularity-3.6.4.json")
    nx_graph = g.to_networkx()
    assert nx_graph.number_of_nodes() == len(g) and nx_graph.number_of_edges() == len(g.edges)
    root = nx_graph.nodes[g.root.key]
    assert root["name"] == "singularity" and root["full_hash"] == "p64nmszwer36ly7pnch5fznni4cnmndg"
    assert root["compiler"] == "gcc@9.3.0" and root["target"] == "skylake"
    go = g.find("dehg3ddu6gacrmnoexbxhjv2i2d76yq6")
    assert nx_graph.edges[g.root.key, go.key]["deptypes"] == "build"  # as MonitorData.graph()
    assert nx_graph.edges[g.root.key, go.key]["virtuals"] == ()


def test_diff_singularity() -> None:
    old = load_spec(ROOT / "specs" / "singularity-3.6.4.json")
    new = load_spec(ROOT / "specs" / "singularity-3.8.0.json")
    d = old.diff(new)
    assert d.added == ["zstd"] and sorted(d.removed) == ["gawk", "libgpg-error"]
    assert d.version_changes["singularity"] == ("3.6.4", "3.8.0")
    assert d.version_changes["go"] == ("1.15.5", "1.16.6")
    assert d.variant_changes["squashfs"] == {"zstd": (False, True)}
    assert ("squashfs", "zstd") in d.edges_added
    assert ("singularity", "libgpg-error") in d.edges_removed
    assert not d.compiler_changes
    frame = d.to_frame()
    assert list(frame.columns) == ["change", "package", "attribute", "old", "new", "why"]
    assert len(frame[frame.change == "version"]) == len(d.version_changes)
    assert "~ go version: 1.15.5 -> 1.16.6" in repr(d) and "<table>" in d._repr_html_()
    assert not old.diff(old) and "no differences" in repr(old.diff(old))


def test_diff_across_releases_shows_compiler_runtime() -> None:
    d = load_spec(SPECS / "zlib-spack-0.21.2.json").diff(
        load_spec(SPECS / "zlib-spack-0.22.1.json")
    )
    assert sorted(d.added) == ["gcc-runtime", "glibc"]
    assert d.version_changes == {"zlib": ("1.3", "1.3.1")}


# --- version 5 (compilers as nodes) --------------------------------------------------------


def test_v5_compiler_from_annotation_and_build_edge() -> None:
    doc = generate_spec_document(12, era="v5", seed=2)
    nodes = doc["spec"]["nodes"]
    nodes[1]["annotations"]["compiler"] = "clang@=15.0.7"
    g = load_spec(doc)
    assert g.nodes[nodes[1]["hash"]].compiler == "clang@15.0.7"
    gcc = g.find_name("gcc")[0]
    assert g.root.compiler == f"gcc@{gcc.version}"
    assert g.format == "v5"


# --- malformed input ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "doc,path,reason",
    [
        (
            {"spec": {"_meta": {"version": 3}, "nodes": [{"name": "a", "version": "1"}]}},
            "spec.nodes[0]",
            "no hash key",
        ),
        (
            {
                "spec": {
                    "_meta": {"version": 3},
                    "nodes": [
                        {
                            "name": "a",
                            "hash": "x",
                            "dependencies": [{"name": "b", "type": ["link"]}],
                        },
                        {"name": "b", "hash": "y"},
                        {"name": "b", "hash": "z"},
                    ],
                }
            },
            "spec.nodes[0].dependencies[0]",
            "no hash key",
        ),
        (
            {
                "spec": {
                    "_meta": {"version": 3},
                    "nodes": [
                        {
                            "name": "a",
                            "hash": "x",
                            "dependencies": [
                                {"name": "b", "hash": "q"},
                                {"name": "c", "hash": "nothere"},
                            ],
                        },
                        {"name": "b", "hash": "q"},
                    ],
                }
            },
            "spec.nodes[0].dependencies[1]",
            "matches no node",
        ),
        ({"spec": {"nodes": "x"}}, "spec.nodes", "must be a list"),
        ({"spec": [{"a": {"hash": 3}}]}, "spec[0].a.hash", "non-empty string"),
        (
            {"spec": [{"a": {"hash": "h", "arch": {"target": 5}}}]},
            "spec[0].a.arch.target",
            "string",
        ),
        (
            {"spec": [{"a": {"hash": "h", "dependencies": 7}}]},
            "spec[0].a.dependencies",
            "list or an object",
        ),
        ({"spec": {"_meta": {"version": "x"}, "nodes": []}}, "spec._meta.version", "integer"),
    ],
)
def test_malformed_documents_name_the_path(doc: dict, path: str, reason: str) -> None:
    with pytest.raises(SpecFormatError) as info:
        load_spec(doc)
    assert info.value.path == path and reason in info.value.reason
    assert info.value.source == "<object>"


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"   ",
        b"\xff\xfe\x00bad",
        b"{not json",
        b"a: [b",
        b"42",
        b"null",
        b"[]",
        b"\x1f\x8bnotgzip",
    ],
)
def test_bad_bytes_raise_spec_format_error(data: bytes) -> None:
    with pytest.raises(SpecFormatError):
        load_spec(data)


def test_missing_and_invalid_files(tmp_path: Path) -> None:
    with pytest.raises(SpecFormatError, match="cannot read"):
        load_spec(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text('{"spec": ')
    with pytest.raises(SpecFormatError, match="bad.json: invalid JSON"):
        load_spec(bad)
    with pytest.raises(SpecFormatError):
        load_spec(3.5)


BASE_DOCS = [
    json.loads((SPECS / "tinyapp-spack-0.16.3.json").read_text()),
    json.loads((SPECS / "tinyapp-spack-0.17.1.json").read_text()),
    json.loads((SPECS / "tinyapp-spack-0.22.1.json").read_text()),
]
JUNK = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False),
    st.text(max_size=5),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)


def _paths(obj, prefix=()):
    yield prefix
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _paths(v, prefix + (i,))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(range(len(BASE_DOCS))), st.data(), JUNK, st.sampled_from(["replace", "delete"])
)
def test_mutated_documents_raise_only_spec_format_error(which, data, junk, how) -> None:
    doc = copy.deepcopy(BASE_DOCS[which])
    paths = [p for p in _paths(doc) if p]
    target = data.draw(st.sampled_from(paths))
    parent = doc
    for k in target[:-1]:
        parent = parent[k]
    if how == "delete":
        del parent[target[-1]]
    else:
        parent[target[-1]] = junk
    try:
        graph = load_spec(doc)
    except SpecFormatError as exc:
        assert exc.source == "<object>"
        assert str(exc).startswith("<object>: ")
        return
    # accepted: then it must be a coherent graph
    assert len(graph) >= 1 and {e.child for e in graph.edges} <= set(graph.nodes)
    graph.nodes_frame()
    graph.edges_frame()


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=60))
def test_random_bytes_raise_only_spec_format_error(data: bytes) -> None:
    try:
        load_spec(data)
    except SpecFormatError:
        pass


# --- synthetic data ----------------------------------------------------------------------


@pytest.mark.parametrize("era", ERAS)
@pytest.mark.parametrize("n", [10, 400])
def test_synth_round_trips_every_era(era: str, n: int) -> None:
    doc = generate_spec_document(n, era=era, seed=7)
    assert generate_spec_document(n, era=era, seed=7) == doc  # deterministic
    g = load_spec(json.dumps(doc).encode())
    assert len(g) == n and len(g.roots) == 1
    expected = {"list": "list"}.get(era, era)
    assert g.format == expected
    body = doc["spec"]
    entries = (
        sum(len(next(iter(x.values())).get("dependencies", {})) for x in body)
        if era == "list"
        else sum(len(x.get("dependencies", [])) for x in body["nodes"])
    )
    assert len(g.edges) == entries
    assert all(node.compiler for node in g if not node.external and node.name != "compiler-wrapper")
    assert len(g.dependencies(transitive=True)) == n - 1


def test_synth_root_name_and_big_document() -> None:
    doc = generate_spec_document(10_000, era="v4", seed=1, root_name="myapp")
    g = load_spec(doc)
    assert len(g) == 10_000 and g.root.name == "myapp"
    assert len({n.name for n in g}) == 10_000


def test_generate_save_local_matches_the_real_shape(tmp_path: Path) -> None:
    out = generate_save_local(tmp_path / "run", 60, phases_per_build=4, seed=5, failure_rate=0.15)
    files = sorted(p.name for p in out.iterdir())
    metas = [f for f in files if f.startswith("build-metadata-")]
    assert len(metas) == 60
    real = DATA / "save-local" / "v0.17.1-failure-tinybrokenapp"
    real_meta = json.loads(next(real.glob("build-metadata-*.json")).read_text())
    mine = json.loads((out / metas[0]).read_text())
    assert list(mine) == list(real_meta)
    text = (out / metas[0]).read_text()
    assert text == json.dumps(mine, indent=2)  # two-space indent, no trailing newline
    run = read_save_local(out)[0]
    assert not run.problems
    statuses = {
        json.loads((out / f).read_text())["build_id"]: json.loads((out / f).read_text())["status"]
        for f in files
        if f.endswith("-status.json")
    }
    errors = [
        json.loads((out / f).read_text())
        for f in files
        if "-phase-" in f and json.loads((out / f).read_text())["status"] == "ERROR"
    ]
    assert errors, "a 15% failure rate over 60 builds fails something for this seed"
    for e in errors:
        assert e["build_id"] not in statuses  # the package that really failed: no status file
        assert "error" in e["output"] and e["output"].startswith("==> ")
    failed = [b for b, s in statuses.items() if s == "FAILED"]
    for b in failed:  # dependents that never built: no phases
        assert not list(out.glob(f"build-{b}-phase-*.json"))
    ok = [b for b, s in statuses.items() if s == "SUCCESS"]
    assert len(list(out.glob(f"build-{ok[0]}-phase-*.json"))) == 4
    again = generate_save_local(
        tmp_path / "again", 60, phases_per_build=4, seed=5, failure_rate=0.15
    )
    assert sorted(p.name for p in again.iterdir()) == files
    assert all((again / f).read_bytes() == (out / f).read_bytes() for f in files)


def test_generate_save_local_full_hash_naming(tmp_path: Path) -> None:
    out = generate_save_local(tmp_path / "r", 5, seed=1, naming="full_hash", tags=None)
    metas = list(out.glob("build-metadata-*.json"))
    for m in metas:
        body = json.loads(m.read_text())
        assert m.name == f"build-metadata-{body['full_hash']}.json" and "tags" not in body


def test_frame_string_columns_have_one_dtype_even_when_empty() -> None:
    f = load_spec(SPECS / "zlib-spack-0.19.0.json").nodes_frame()
    assert f["build_hash"].isna().all()  # 0.19 nodes carry only hash and package_hash
    assert f["build_hash"].dtype == f["hash"].dtype == f["name"].dtype
    # full_hash is the graph key, as in MonitorData.specs: the DAG hash from 0.18 on
    assert list(f["full_hash"]) == list(f["hash"]) == list(f["dag_hash"])


def test_lookup_of_an_unknown_node_is_a_key_error() -> None:
    g = load_spec(SPECS / "zlib-spack-0.19.0.json")
    with pytest.raises(KeyError):
        g.dependencies("nope")
