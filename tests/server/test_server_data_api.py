"""The /api/ data routes: envelope, paging, filters, bulk NDJSON, read_rows, every fixture spec."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from spackmon_analysis.server.queries import ROUTES, read_rows
from spackmon_analysis.spec import load_spec

ROOT = Path(__file__).resolve().parents[2]
SPECS = ROOT / "tests" / "data" / "specs"
SPEC_FILES = sorted(p for p in SPECS.iterdir() if p.suffix in (".json", ".yaml"))
ENV = {
    "host_os": "debian12",
    "platform": "linux",
    "host_target": "icelake",
    "hostname": "vm",
    "kernel_version": "k",
}


def _doc(path: Path):
    text = path.read_text()
    return yaml.safe_load(text) if path.suffix == ".yaml" else json.loads(text)


def _version(path: Path) -> str:
    return path.name.split("-spack-")[1].split("-")[0].removesuffix(".json").removesuffix(".yaml")


@pytest.mark.parametrize("path", SPEC_FILES, ids=lambda p: p.name)
def test_every_fixture_spec_uploads(path, alice, bulk, counts):
    graph = load_spec(path)
    sv = _version(path)
    r = alice.post("specs/new/", {"spec": _doc(path), "spack_version": sv})
    assert r.status_code == 201, r.text
    root = graph.nodes[graph.roots[0]]
    assert r.json()["data"]["spec"]["name"] == root.name
    assert r.json()["data"]["spec"]["full_hash"] == root.full_hash
    rows = bulk("specs")
    assert len(rows) == len(graph.nodes)
    assert {(s["name"], s["full_hash"]) for s in rows} == {(n.name, n.full_hash) for n in graph}
    edges = bulk("dependencies")
    assert len(edges) == len(graph.edges)
    by_hash = {s["full_hash"]: s for s in rows}
    for e in graph.edges:
        assert any(
            d["spec_full_hash"] == graph.nodes[e.parent].full_hash
            and d["dependency_full_hash"] == graph.nodes[e.child].full_hash
            and d["deptypes"] == list(e.deptypes)
            for d in edges
        )
    for node in graph:
        row = by_hash[node.full_hash]
        assert row["version"] == str(node.version) and row["external"] == node.external
        assert row["compiler_name"] == node.compiler_name and row["target"] == node.target
        assert row["parameters"] == node.parameters
    before = counts()
    again = alice.post("specs/new/", {"spec": _doc(path), "spack_version": sv})
    assert again.status_code == 200 and counts() == before


def test_shared_nodes_are_deduplicated(alice, bulk):
    alice.post(
        "specs/new/", {"spec": _doc(SPECS / "zlib-spack-0.17.1.json"), "spack_version": "0.17.1"}
    )
    n_zlib = len(bulk("specs"))
    alice.post(
        "specs/new/", {"spec": _doc(SPECS / "tinyapp-spack-0.17.1.json"), "spack_version": "0.17.1"}
    )
    graph = load_spec(SPECS / "tinyapp-spack-0.17.1.json")
    zlib = load_spec(SPECS / "zlib-spack-0.17.1.json")
    shared = {n.full_hash for n in graph} & {n.full_hash for n in zlib}
    assert len(bulk("specs")) == n_zlib + len(graph.nodes) - len(shared)


def _load_some(alice, n_builds: int = 3) -> list[int]:
    alice.post(
        "specs/new/", {"spec": _doc(SPECS / "tinyapp-spack-0.17.1.json"), "spack_version": "0.17.1"}
    )
    specs = alice.s.get(f"{alice.mon.url}/api/specs/", params={"limit": 100}).json()["results"]
    ids = []
    for i, spec in enumerate(specs[:n_builds]):
        r = alice.post(
            "builds/new/",
            {**ENV, "spack_version": "0.17.1", "full_hash": spec["full_hash"], "tags": f"t{i},all"},
        )
        ids.append(r.json()["data"]["build"]["build_id"])
    return ids


def test_page_envelope_and_links(alice, mon, http):
    ids = _load_some(alice)
    url = f"{mon.url}/api/builds/"
    page = http.get(url, params={"limit": 2}).json()
    assert set(page) == {"count", "next", "previous", "results"}
    assert page["count"] == len(ids) and page["previous"] is None
    assert [b["id"] for b in page["results"]] == sorted(ids)[:2]
    nxt = http.get(page["next"]).json()
    assert [b["id"] for b in nxt["results"]] == sorted(ids)[2:] and nxt["next"] is None
    assert http.get(nxt["previous"]).json()["results"] == page["results"]
    default = http.get(url).json()
    assert len(default["results"]) == len(ids)  # default limit 10 >= 3
    assert http.get(url, params={"limit": 10000}).status_code == 200
    for bad in ({"limit": "x"}, {"limit": 0}, {"offset": -1}, {"nosuch": 1}):
        r = http.get(url, params=bad)
        assert r.status_code == 400 and r.json()["message"]
    r = http.get(f"{mon.url}/api/nosuch/")
    assert r.status_code == 404 and "nosuch" in r.json()["message"]


def test_row_shapes(alice, mon, http):
    _load_some(alice, 1)
    required = {
        "specs": {
            "id",
            "name",
            "version",
            "full_hash",
            "hash",
            "build_hash",
            "dag_hash",
            "package_hash",
            "spack_version",
            "namespace",
            "compiler_name",
            "compiler_version",
            "platform",
            "os",
            "target",
            "parameters",
            "external",
            "is_root",
        },
        "dependencies": {
            "id",
            "spec",
            "dependency",
            "spec_full_hash",
            "dependency_full_hash",
            "deptypes",
            "virtuals",
        },
        "builds": {
            "id",
            "spec",
            "spec_name",
            "spec_version",
            "full_hash",
            "status",
            "build_environment",
            "host_os",
            "platform",
            "host_target",
            "hostname",
            "kernel_version",
            "spack_version",
            "tags",
            "owner",
            "created_at",
            "updated_at",
        },
    }
    for route, keys in required.items():
        rows = http.get(f"{mon.url}/api/{route}/").json()["results"]
        assert rows and keys <= set(rows[0]), (route, keys - set(rows[0]))
    for route in ROUTES:
        assert http.get(f"{mon.url}/api/{route}/").status_code == 200, route


def test_filters(alice, bob, mon, bulk, http):
    ids = _load_some(alice)
    alice.post("builds/update/", {"build_id": ids[0], "status": "FAILED"})
    alice.post(
        "builds/phases/update/",
        {"build_id": ids[0], "phase_name": "build", "status": "ERROR", "output": "x"},
    )
    alice.post(
        "builds/phases/update/",
        {"build_id": ids[1], "phase_name": "build", "status": "SUCCESS", "output": "y"},
    )
    assert [b["id"] for b in bulk("builds", status="FAILED")] == [ids[0]]
    assert len(bulk("builds", status="NOTRUN")) == 2
    assert [b["id"] for b in bulk("builds", tag="t1")] == [ids[1]]
    assert len(bulk("builds", tag="all")) == 3 and bulk("builds", tag="al") == []
    assert len(bulk("builds", owner="alice")) == 3 and bulk("builds", owner="bob") == []
    name = bulk("builds")[2]["spec_name"]
    assert [b["id"] for b in bulk("builds", spec_name=name)] == [ids[2]]
    assert [p["build"] for p in bulk("buildphases", status="ERROR")] == [ids[0]]
    assert len(bulk("buildphases", name="build")) == 2
    page = http.get(f"{mon.url}/api/buildphases/", params={"build": ids[1], "output": 0}).json()
    assert (
        page["count"] == 1
        and "output" not in page["results"][0]
        and page["results"][0]["output_size"] == 1
    )
    assert len(bulk("specs", is_root="true")) == 1
    root = bulk("specs", is_root="true")[0]
    assert len(bulk("dependencies", spec=root["id"])) == len(
        load_spec(SPECS / "tinyapp-spack-0.17.1.json").dependencies(root["full_hash"])
    )


def test_bulk_path_streams_all_rows(alice, mon, http):
    alice.post(
        "specs/new/", {"spec": _doc(SPECS / "tinyapp-spack-0.17.1.json"), "spack_version": "0.17.1"}
    )
    spec = http.get(f"{mon.url}/api/specs/").json()["results"][0]
    r = alice.post(
        "builds/new/", {**ENV, "spack_version": "0.17.1", "full_hash": spec["full_hash"]}
    )
    build_id = r.json()["data"]["build"]["build_id"]
    for i in range(5):
        alice.post(
            "builds/phases/update/",
            {"build_id": build_id, "phase_name": f"p{i}", "status": "SUCCESS", "output": None},
        )
    r = http.get(f"{mon.url}/api/buildphases/all/", stream=True)
    assert r.headers["content-type"].startswith("application/x-ndjson")
    lines = [json.loads(x) for x in r.iter_lines() if x]
    assert [p["name"] for p in lines] == [f"p{i}" for i in range(5)]
    assert http.get(f"{mon.url}/api/buildphases/all/", params={"nosuch": 1}).status_code == 400


def test_read_rows_matches_api(alice, mon, bulk):
    ids = _load_some(alice)
    alice.post(
        "builds/phases/update/",
        {"build_id": ids[0], "phase_name": "build", "status": "SUCCESS", "output": "ok"},
    )
    for route in ROUTES:
        assert list(read_rows(mon.db_url, route)) == bulk(route), route
    assert list(read_rows(mon.store.read, "builds", status="NOTRUN")) == bulk(
        "builds", status="NOTRUN"
    )
    from spackmon_analysis.errors import ConfigError

    with pytest.raises(ConfigError):
        list(read_rows(mon.db_url, "nosuch"))
    with pytest.raises(ConfigError):
        list(read_rows(mon.db_url, "builds", nosuch=1))


def test_keyset_chunks(alice, mon):
    from spackmon_analysis.server.queries import iter_rows

    alice.post(
        "specs/new/", {"spec": _doc(SPECS / "tinyapp-spack-0.17.1.json"), "spack_version": "0.17.1"}
    )
    whole = list(iter_rows(mon.store.read, "specs"))
    assert list(iter_rows(mon.store.read, "specs", chunk=1)) == whole and len(whole) > 1


def test_openapi_docs(mon, http):
    assert http.get(f"{mon.url}/api/docs").status_code == 200
    spec = http.get(f"{mon.url}/api/openapi.json").json()
    assert "/ms1/builds/new/" in spec["paths"] and "/api/{route}/" in spec["paths"]
