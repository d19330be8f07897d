"""SpecDiff with duplicate names, hash-only and patch changes; strict wrapper/meta types;
cycles; the error's source is the path as given."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from spackmon_analysis.errors import SpecFormatError
from spackmon_analysis.spec import load_spec

SPECS = Path(__file__).resolve().parent.parent / "data" / "specs"


def _node(name: str, version: str, h: str, deps: list[str] = (), **extra) -> dict:
    node = {
        "name": name,
        "version": version,
        "hash": h,
        "arch": {"platform": "linux", "platform_os": "ubuntu22.04", "target": "zen3"},
        "parameters": {"shared": True, **extra.pop("parameters", {})},
        **extra,
    }
    if deps:
        node["dependencies"] = [
            {
                "name": d.split(":")[0],
                "hash": d.split(":")[1],
                "parameters": {"deptypes": ["build", "link"], "virtuals": []},
            }
            for d in deps
        ]
    return node


def _doc(*nodes: dict) -> dict:
    return {"spec": {"_meta": {"version": 4}, "nodes": list(nodes)}}


def _graph(*nodes: dict):
    return load_spec(_doc(*nodes))


# --- SpecDiff ------------------------------------------------------------------------------


def test_diff_only_hash_changed_is_a_difference() -> None:
    old = _graph(_node("zlib", "1.3", "aaaaaaa1"))
    new = _graph(_node("zlib", "1.3", "bbbbbbb2"))
    d = old.diff(new)
    assert d and d.hash_changes == ["zlib"]
    assert d.hash_values["zlib"] == ("aaaaaaa1", "bbbbbbb2")
    assert "no differences" not in repr(d)
    assert "zlib DAG hash: aaaaaaa1 -> bbbbbbb2 (unexplained: " in repr(d)
    assert "no differences" not in d._repr_html_()
    assert list(d.to_frame()["change"]) == ["hash"]


def test_diff_compares_patches() -> None:
    old = _graph(_node("zlib", "1.3", "a1", parameters={"patches": ["p1"]}))
    new = _graph(_node("zlib", "1.3", "a1", parameters={"patches": ["p1", "p2"]}))
    d = old.diff(new)
    assert d and d.patch_changes == {"zlib": (("p1",), ("p1", "p2"))}
    assert "zlib patches: p1 -> p1,p2" in repr(d)


def test_diff_matches_duplicate_names_by_hash_then_version() -> None:
    # two gcc nodes (a compiler as a node next to a build-only gcc) on each side
    old = _graph(
        _node("app", "1.0", "app1", ["gcc:gcca", "gcc:gccb"]),
        _node("gcc", "12.2.0", "gcca"),
        _node("gcc", "11.4.0", "gccb", parameters={"languages": ["c"]}),
    )
    new = _graph(
        _node("app", "1.0", "app1", ["gcc:gccb", "gcc:gccc"]),
        _node("gcc", "11.4.0", "gccb", parameters={"languages": ["c", "fortran"]}),
        _node("gcc", "13.1.0", "gccc"),
        _node("gcc", "9.5.0", "gccd"),
    )
    d = old.diff(new)
    # gccb pairs by hash (its variant change is reported), gcca with one of the two
    # left -> no unique pairing: gcca removed, gccc and gccd added
    assert d.variant_changes == {"gcc@11.4.0/gccb": {"languages": (["c"], ["c", "fortran"])}}
    assert d.removed == ["gcc@12.2.0/gcca"]
    assert d.added == ["gcc@13.1.0/gccc", "gcc@9.5.0/gccd"]
    assert ("app", "gcc@12.2.0/gcca") in d.edges_removed
    assert ("app", "gcc@13.1.0/gccc") in d.edges_added
    assert ("app", "gcc@11.4.0/gccb") not in d.edges_added + d.edges_removed


def test_diff_duplicate_names_pair_the_last_ones_left() -> None:
    old = _graph(
        _node("app", "1", "app1", ["b:b1", "b:b2"]), _node("b", "1", "b1"), _node("b", "2", "b2")
    )
    new = _graph(
        _node("app", "1", "app1", ["b:b1", "b:b3"]), _node("b", "1", "b1"), _node("b", "3", "b3")
    )
    d = old.diff(new)
    assert d.version_changes == {"b@2/b2": ("2", "3")}
    assert d.hash_changes == ["b@2/b2"] and not d.added and not d.removed
    assert not d.edges_added and not d.edges_removed
    assert not old.diff(old)


# --- strict types in wrappers and _meta --------------------------------------------------


def test_meta_version_string_is_rejected() -> None:
    doc = _doc(_node("zlib", "1.3", "a1"))
    doc["spec"]["_meta"]["version"] = "3"
    with pytest.raises(SpecFormatError) as info:
        load_spec(doc)
    assert info.value.path == "spec._meta.version"
    assert "must be an integer" in str(info.value) and "'3'" in str(info.value)


@pytest.mark.parametrize("value", [17, 0.18, True, ["0.17"]])
def test_upload_body_spack_version_must_be_a_string(value) -> None:
    body = {"spec": _doc(_node("zlib", "1.3", "a1")), "spack_version": value}
    with pytest.raises(SpecFormatError) as info:
        load_spec(body)
    assert info.value.path == "spack_version"
    assert "spack_version must be a string" in str(info.value)
    body["spack_version"] = "0.17.1"
    assert load_spec(body).spack_version == "0.17.1"


def test_every_fixture_still_loads() -> None:
    for path in sorted(SPECS.iterdir()):
        assert len(load_spec(path)) > 0, path


# --- cycles ----------------------------------------------------------------------------------


def test_cycle_is_rejected_naming_a_node_on_it() -> None:
    doc = _doc(
        _node("root", "1", "r1", ["a:a1"]),
        _node("a", "1", "a1", ["b:b1"]),
        _node("b", "1", "b1", ["c:c1"]),
        _node("c", "1", "c1", ["a:a1", "leaf:l1"]),
        _node("leaf", "1", "l1"),
    )
    with pytest.raises(SpecFormatError) as info:
        load_spec(doc)
    message = str(info.value)
    assert "cycle" in message
    named = message.split("cycle through ")[1].split(" ")[0]
    assert named in ("a", "b", "c")
    assert "root" not in message.split("(")[1] and "leaf" not in message.split("(")[1]


def test_cycle_without_any_root_is_rejected() -> None:
    doc = _doc(_node("a", "1", "a1", ["b:b1"]), _node("b", "1", "b1", ["a:a1"]))
    with pytest.raises(SpecFormatError, match="cycle through (a|b) "):
        load_spec(doc)


@pytest.mark.parametrize("nodes", [20, 60])
def test_the_cycle_check_of_small_graphs_agrees_with_the_numpy_one(nodes: int) -> None:
    """Small documents are checked in plain Python (no numpy import for a server's spec
    upload); both checks bail on the same graphs: random DAGs, then each with a cycle."""
    import random

    from spackmon_analysis.spec import parse

    def bails(check, n, parent, child) -> bool:
        try:
            check(n, parent, child)
        except parse._Bail:
            return True
        return False

    rng = random.Random(nodes)
    for _ in range(40):
        order = list(range(nodes))
        rng.shuffle(order)  # a DAG whose document order is not topological
        pairs = {
            (order[i], order[j])
            for i, j in (sorted(rng.sample(range(nodes), 2)) for _ in range(nodes * 2))
        }
        back = rng.choice(sorted(pairs))  # an edge reversed: a cycle of two
        for extra in ([], [(back[1], back[0])], [(order[3], order[3])]):
            parent = [p for p, _c in sorted(pairs)] + [p for p, _c in extra]
            child = [c for _p, c in sorted(pairs)] + [c for _p, c in extra]
            expected = bool(extra)
            assert bails(parse._small_acyclic, nodes, parent, child) is expected
            with pytest.MonkeyPatch.context() as mp:
                mp.setattr(parse, "_SMALL_DAG", 0)  # the numpy path
                assert bails(parse._fast_acyclic, nodes, parent, child) is expected


# --- the error's source --------------------------------------------------------------------


def test_error_source_is_the_path_as_given(tmp_path: Path, monkeypatch) -> None:
    sub = tmp_path / "sub"
    sub.mkdir()
    bad = sub / "bad.json"
    bad.write_text(json.dumps({"spec": {"_meta": {"version": "x"}, "nodes": []}}))
    with pytest.raises(SpecFormatError) as info:
        load_spec(bad)
    assert info.value.source == str(bad)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SpecFormatError) as info:
        load_spec("sub/bad.json")
    assert info.value.source == "sub/bad.json"
    assert str(info.value).startswith("sub/bad.json: ")
    with pytest.raises(SpecFormatError) as info:
        load_spec(Path("sub/bad.json"), name="mine")
    assert info.value.source == "mine"
