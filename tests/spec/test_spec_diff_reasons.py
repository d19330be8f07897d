"""SpecDiff: a patch change reported once, why a hash changed, and hashes of different kinds
labelled as such (real Spack 0.16-0.22 spec files and small documents)."""

from __future__ import annotations

import copy
from pathlib import Path

from spackmon_analysis.spec import load_spec

SPECS = Path(__file__).resolve().parent.parent / "data" / "specs"


def _node(name: str, h: str, deps: tuple[str, ...] = (), **extra: object) -> dict:
    node: dict = {
        "name": name,
        "version": "1.0",
        "hash": h,
        "arch": {"platform": "linux", "platform_os": "debian12", "target": "icelake"},
        "compiler": {"name": "gcc", "version": "12.2.0"},
        "parameters": {"shared": True},
        **extra,
    }
    if deps:
        node["dependencies"] = [
            {"name": d.split(":")[0], "hash": d.split(":")[1],
             "parameters": {"deptypes": ["build", "link"], "virtuals": []}}
            for d in deps
        ]  # fmt: skip
    return node


def _doc(version: int, *nodes: dict) -> dict:
    return {"spec": {"_meta": {"version": version}, "nodes": list(nodes)}}


def test_a_patch_change_is_reported_once() -> None:
    old = _node("zlib", "aaaa", package_hash="p")
    new = copy.deepcopy(old)
    old["parameters"]["patches"] = ["0b1c"]
    new["parameters"]["patches"] = ["0b1c", "9f8e"]
    new["hash"] = "bbbb"
    d = load_spec(_doc(4, old)).diff(load_spec(_doc(4, new)))
    assert d.patch_changes == {"zlib": (("0b1c",), ("0b1c", "9f8e"))}
    assert d.variant_changes == {}
    frame = d.to_frame()
    assert list(frame["change"]) == ["patches", "hash"]
    text = repr(d)
    assert text.count("patches") == 2  # the patches line and the reason of the hash change
    assert "~ zlib patches: 0b1c -> 0b1c,9f8e" in text
    assert "~ zlib DAG hash: aaaa -> bbbb (patches changed)" in text


def test_recipe_change_is_the_reason() -> None:
    old = _doc(
        4, _node("app", "a1", ("lib:l1",), package_hash="r1"), _node("lib", "l1", package_hash="q")
    )
    new = _doc(
        4, _node("app", "a2", ("lib:l1",), package_hash="r2"), _node("lib", "l1", package_hash="q")
    )
    d = load_spec(old).diff(load_spec(new))
    assert d.hash_changes == ["app"] and d.hash_kinds == {"app": "DAG hash"}
    assert d.hash_reasons == {"app": ["package_hash changed (the recipe)"]}


def test_real_0_21_to_0_22_hash_reasons() -> None:
    old = load_spec(SPECS / "tinyapp-spack-0.21.2.json")
    new = load_spec(SPECS / "tinyapp-spack-0.22.1.json")
    d = old.diff(new)
    # gmake's recipe changed between the releases: its package_hash differs in the files
    assert d.hash_reasons["gmake"] == ["package_hash changed (the recipe)"]
    # tinybase's own recipe did not: its hash moved with its build dependency gmake and
    # the gcc-runtime / glibc dependencies 0.22 adds
    assert d.hash_reasons["tinybase"] == [
        "dependency changed: gmake",
        "dependencies added: gcc-runtime, glibc",
    ]
    assert d.hash_reasons["tinyapp"][0] == "dependency changed: gmake, tinybase, tinyutil"
    assert set(d.hash_kinds.values()) == {"DAG hash"}
    rows = d.to_frame().query("change == 'hash' and package == 'gmake'")
    assert rows[["attribute", "why"]].values.tolist() == [
        ["DAG hash", "package_hash changed (the recipe)"]
    ]
    assert "~ gmake DAG hash: me4p5uh -> " not in repr(d)  # full values, not cut
    assert "(package_hash changed (the recipe))" in repr(d)


def test_real_0_17_full_hash_against_0_18_dag_hash_is_labelled() -> None:
    old = load_spec(SPECS / "tinyapp-spack-0.17.1.json")
    new = load_spec(SPECS / "tinyapp-spack-0.18.0.dev0.json")
    d = old.diff(new)
    assert d.hash_changes == []  # a full_hash and a DAG hash are not compared
    assert d.hash_kind_mismatches["tinyapp"] == (
        ("full_hash", old.root.full_hash),
        ("DAG hash", new.root.dag_hash),
    )
    assert (
        f"~ tinyapp hash: full_hash {old.root.full_hash} -> DAG hash {new.root.dag_hash}: "
        "different kinds of hash, not comparable"
    ) in repr(d)
    assert set(d.to_frame()["change"]) == {"hash kind"} and d


def test_pre_0_18_dag_hash_is_another_kind() -> None:
    """Spack 0.18 changed what the DAG ``hash`` covers: a v2 ``hash`` is not a v4 one."""
    old = load_spec(_doc(2, _node("zlib", "aaaa")))
    new = load_spec(_doc(4, _node("zlib", "bbbb")))
    d = old.diff(new)
    assert d.hash_kind_mismatches == {
        "zlib": (("DAG hash (Spack < 0.18)", "aaaa"), ("DAG hash", "bbbb"))
    }
    same = load_spec(_doc(2, _node("zlib", "cccc"))).diff(load_spec(_doc(2, _node("zlib", "dddd"))))
    assert same.hash_kinds == {"zlib": "DAG hash (Spack < 0.18)"}


def test_real_0_16_to_0_17_compares_full_hashes() -> None:
    d = load_spec(SPECS / "zlib-spack-0.16.3.json").diff(
        load_spec(SPECS / "zlib-spack-0.17.1.json")
    )
    assert d.hash_kinds == {"zlib": "full_hash"}
    assert d.hash_reasons["zlib"][0].startswith("unexplained: no field of the documents differs")
