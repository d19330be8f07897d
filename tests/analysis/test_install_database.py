"""The install database (``.spack-db/index.json``, versions 5-8) and its ``failures/`` markers.

No real tree kept its ``.spack-db``; each index here is written in the shape Spack's
``database.py`` writes for its version around the nodes of the real spec files in
tests/data/specs, next to the real Spack 0.22.1 prefix of tests/data/installs.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

import spackmon_analysis as sma

DATA = Path(__file__).resolve().parent.parent / "data"
SPECS = DATA / "specs"
PREFIX = DATA / "installs" / "v0.22.1" / "tinyutil-2.1-olb4tahxn3q52a56sww6ljj2kugp32jd"
BROKEN = "bgd6kv3dv7wnvfjyx3ezjp5eqwkbbbdn"
STAMP = 1796300000.0  # 2026-12-03 ...


def _index(version: str, spec_file: str, explicit: str = "tinyapp") -> dict:
    doc = json.loads((SPECS / spec_file).read_text())
    installs = {}
    if version == "5":
        for item in doc["spec"]:
            ((name, body),) = item.items()
            node = {name: body}
            key, external = body["hash"], bool(body.get("external"))
            installs[key] = _record(node, name, explicit, external)
    else:
        for node in doc["spec"]["nodes"]:
            installs[node["hash"]] = _record(node, node["name"], explicit, "external" in node)
    return {"database": {"version": version, "installs": installs}}


def _record(node: dict, name: str, explicit: str, external: bool) -> dict:
    return {
        "spec": node,
        "path": None if external else f"/home/builder/spack/opt/spack/{name}",
        "installed": True,
        "ref_count": 1,
        "explicit": name == explicit,
        "installation_time": STAMP,
    }


def _tree(tmp_path: Path, index: dict, markers: list[str] = ()) -> Path:
    tree = tmp_path / "opt" / "spack"
    shutil.copytree(PREFIX, tree / PREFIX.name)
    db = tree / ".spack-db"
    db.mkdir()
    (db / "index.json").write_text(json.dumps(index))
    (db / "failures").mkdir()
    for marker in markers:
        (db / "failures" / marker).write_text("")
    return tree


@pytest.mark.parametrize(
    ("version", "spec_file"),
    [
        ("5", "tinyapp-spack-0.16.3.json"),
        ("6", "tinyapp-spack-0.19.0.json"),
        ("7", "tinyapp-spack-0.22.1.json"),
        ("8", "tinyapp-spack-0.22.1.json"),
    ],
)
def test_every_database_version_gives_dag_and_installs(
    tmp_path: Path, version: str, spec_file: str
) -> None:
    db = tmp_path / ".spack-db"
    db.mkdir()
    (db / "index.json").write_text(json.dumps(_index(version, spec_file)))
    data = sma.load(db)
    graph = sma.load_spec(SPECS / spec_file)
    assert sorted(data.specs["name"]) == sorted(graph.nodes_frame()["name"])
    assert len(data.dependencies) == len(graph.edges_frame())
    built = data.builds.set_index("spec_name")
    externals = {"glibc", "gmake"} if version in ("7", "8") else set()
    assert set(built.index) == {"tinyapp", "tinybase", "tinyutil"} | (
        {"gcc-runtime"} if externals else set()
    )
    assert built.loc["tinyapp", "explicit"] and not built.loc["tinybase", "explicit"]
    assert (
        "explicit" in built.loc["tinyapp", "tags"] and "implicit" in built.loc["tinyutil", "tags"]
    )
    assert (built["status"] == "SUCCESS").all()
    assert built.loc["tinyapp", "created_at"].timestamp() == STAMP
    if externals:
        assert any("2 external" in m for _, m in data.notes)


def test_tree_with_database_and_markers(tmp_path: Path) -> None:
    index = _index("7", "tinyapp-spack-0.22.1.json")
    app = next(
        k for k, r in index["database"]["installs"].items() if r["spec"]["name"] == "tinyapp"
    )
    tree = _tree(tmp_path, index, [f"tinybroken-{BROKEN}", f"tinyapp-{app}"])
    data = sma.load(tree)
    rows = data.builds.set_index("spec_name")
    # the prefix and the database record of tinyutil are one build, with the prefix's phases
    assert list(data.builds["spec_name"]).count("tinyutil") == 1
    util = rows.loc["tinyutil"]
    assert util["explicit"] == False and len(data.phases[data.phases["build"] == util["build"]])  # noqa: E712
    assert rows.loc["tinyapp", "status"] == "SUCCESS" and rows.loc["tinyapp", "explicit"]
    # a marker without a prefix is a failed build; the marker of an installed spec is stale
    broken = rows.loc["tinybroken"]
    assert broken["status"] == "FAILED" and "failure-marker" in broken["tags"]
    assert broken["dag_hash"] == BROKEN
    assert any("failure marker of an installed spec" in m for _, m in data.notes)
    assert any("the install database's record and build" in m for _, m in data.notes)
    table = sma.failures(data)
    assert list(table["spec_name"]) == ["tinybroken"]


def test_a_database_without_index_still_gives_its_failures(tmp_path: Path) -> None:
    db = tmp_path / ".spack-db"
    (db / "failures").mkdir(parents=True)
    (db / "failures" / f"tinybroken-{BROKEN}").write_text("")
    data = sma.load(db)
    assert list(data.builds["status"]) == ["FAILED"]


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ('{"installs": {}}', None),
        ('{"database": {"version": "7", "installs": []}}', "database.installs"),
        (
            '{"database": {"version": "7", "installs": {"abc": {"path": "/x"}}}}',
            "database.installs.abc",
        ),
        ('{"database": {"version": "7", "installs": {', None),
    ],
)
def test_a_malformed_index_names_file_and_element(tmp_path: Path, text: str, where) -> None:
    db = tmp_path / ".spack-db"
    db.mkdir()
    (db / "index.json").write_text(text)
    with pytest.raises(sma.SpecFormatError) as err:
        sma.load(db)
    assert err.value.source == str(db / "index.json") and err.value.path == where


def test_an_index_symlinked_out_of_the_tree_is_skipped_and_named(tmp_path: Path) -> None:
    """load(tree): a .spack-db/index.json that is a symbolic link out of the database folder
    is not read (the localfiles rule) and is named in notes; the prefix still loads. Named
    directly, the file is read wherever it points."""
    tree = _tree(tmp_path, {"database": {"version": "7", "installs": {}}})
    outside = tmp_path / "elsewhere.json"
    outside.write_text(json.dumps(_index("7", "tinyapp-spack-0.22.1.json")))
    index = tree / ".spack-db" / "index.json"
    index.unlink()
    index.symlink_to(outside)
    data = sma.load(tree)
    assert list(data.builds["spec_name"]) == ["tinyutil"]
    assert any(p == str(index) and "outside" in m and "not read" in m for p, m in data.notes)
    assert "tinyapp" in set(sma.load(index).builds["spec_name"])


def test_load_install_tree_names_an_index_it_cannot_use_for_install_times(tmp_path: Path) -> None:
    """load_install_tree reads install times from the tree's index.json under the same rule
    as the install database loader; a damaged index, or one linked out of .spack-db, is named
    in notes (it used to be passed over without a word) and the prefix still loads."""
    tree = _tree(tmp_path, {"database": {"version": "7", "installs": {}}})
    index = tree / ".spack-db" / "index.json"
    index.write_text('{"database": {"version": "7", "installs": {')
    data = sma.load_install_tree(tree)
    assert list(data.builds["spec_name"]) == ["tinyutil"]
    assert any(p == str(index) and "not JSON" in m and "phase logs" in m for p, m in data.notes)

    outside = tmp_path / "elsewhere.json"
    outside.write_text(json.dumps(_index("7", "tinyapp-spack-0.22.1.json")))
    index.unlink()
    index.symlink_to(outside)
    data = sma.load_install_tree(tree)
    assert list(data.builds["spec_name"]) == ["tinyutil"]
    assert any(p == str(index) and "not read" in m for p, m in data.notes)


def test_load_install_tree_takes_install_times_from_the_index(tmp_path: Path) -> None:
    """With a usable index, the prefix's build is dated by its installation_time."""
    key = PREFIX.name.rsplit("-", 1)[1]
    index = {"database": {"version": "7", "installs": {key: {"installation_time": STAMP}}}}
    data = sma.load_install_tree(_tree(tmp_path, index))
    created = data.builds["created_at"].iloc[0]
    assert created.timestamp() == STAMP
    assert not [n for p, n in data.notes if p.endswith("index.json")]
