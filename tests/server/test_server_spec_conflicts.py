"""Conflicting spec uploads (issue 14): a document that disagrees with what is stored for the same
hash is a 409 naming the fields, nothing of it is stored, and every answer shows what is stored.
A Spack 0.18 installed spec.json (DAG hashes only) of a spec stored with its full hash matches.
On SQLite and PostgreSQL."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from testlib import BUILD_ENV as ENV

SPECS = Path(__file__).resolve().parents[1] / "data" / "specs"
SV = "0.17.1"


def _doc() -> dict:
    return json.loads((SPECS / "tinyapp-spack-0.17.1.json").read_text())


def _node(doc: dict, name: str) -> dict:
    return next(n for n in doc["spec"]["nodes"] if n["name"] == name)


@pytest.fixture
def stored(alice) -> dict:
    """tinyapp 0.17.1 uploaded once: the first answer's data.spec."""
    r = alice.post("specs/new/", {"spec": _doc(), "spack_version": SV})
    assert r.status_code == 201, r.text
    return r.json()["data"]["spec"]


def test_a_genuine_reupload_is_200_and_shows_what_is_stored(alice, stored, counts):
    before = counts()
    r = alice.post("specs/new/", {"spec": _doc(), "spack_version": SV})
    assert r.status_code == 200, r.text
    assert r.json()["data"] == {"spec": stored, "created": False}
    assert counts() == before


def test_a_different_version_under_the_same_hash_is_409(alice, stored, counts, bulk):
    doc = _doc()
    _node(doc, "tinyapp")["version"] = "0.4"
    before = counts()
    r = alice.post("specs/new/", {"spec": doc, "spack_version": SV})
    assert r.status_code == 409, r.text
    body = r.json()
    assert body["message"].startswith(
        "The spec document disagrees with what is stored for the same hash under Spack 0.17.1: "
        f"tinyapp {stored['full_hash']} (version)."
    )
    (conflict,) = body["data"]["conflicts"]
    assert conflict["fields"] == {"version": {"sent": "0.4", "stored": "0.3"}}
    assert {k: conflict[k] for k in stored} == stored  # the stored spec, not the document
    assert counts() == before
    assert {s["version"] for s in bulk("specs", name="tinyapp")} == {"0.3"}


def test_a_dependency_node_with_other_parameters_is_409(alice, stored, counts):
    doc = _doc()
    _node(doc, "tinybase")["parameters"]["cflags"] = ["-O3"]
    _node(doc, "tinybase")["parameters"]["new_variant"] = True  # only one side: not compared
    before = counts()
    r = alice.post("specs/new/", {"spec": doc, "spack_version": SV})
    assert r.status_code == 409, r.text
    (conflict,) = r.json()["data"]["conflicts"]
    assert conflict["name"] == "tinybase"
    assert conflict["fields"] == {"parameters.cflags": {"sent": ["-O3"], "stored": []}}
    assert counts() == before


def test_extra_dependency_edges_of_a_conflicting_document_are_not_kept(alice, stored, counts, bulk):
    doc = _doc()
    extra = copy.deepcopy(_node(doc, "tinybase"))
    extra.update(name="tinyextra", full_hash="a" * 32, hash="b" * 32, build_hash="c" * 32)
    doc["spec"]["nodes"].append(extra)
    _node(doc, "tinyutil")["dependencies"].append(
        {
            "name": "tinyextra",
            "full_hash": "a" * 32,
            "hash": "b" * 32,
            "build_hash": "c" * 32,
            "type": ["build", "link"],
        }
    )
    edges = bulk("dependencies")
    before = counts()
    r = alice.post("specs/new/", {"spec": doc, "spack_version": SV})
    assert r.status_code == 409, r.text
    (conflict,) = r.json()["data"]["conflicts"]
    assert conflict["name"] == "tinyutil" and list(conflict["fields"]) == ["dependencies.tinyextra"]
    assert conflict["specs"] == {"tinybase": _node(_doc(), "tinybase")["full_hash"]}
    assert counts() == before and bulk("dependencies") == edges
    assert bulk("specs", name="tinyextra") == []


def test_builds_new_with_a_conflicting_spec_is_409(alice, stored, counts):
    doc = _doc()
    _node(doc, "tinyapp")["arch"]["target"] = "skylake"
    before = counts()
    r = alice.post(
        "builds/new/",
        {**ENV, "spack_version": SV, "full_hash": stored["full_hash"], "spec": doc},
    )
    assert r.status_code == 409, r.text
    assert "tinyapp" in r.json()["message"] and "(target)" in r.json()["message"]
    assert counts() == before


def test_a_dag_hash_only_document_of_a_stored_spec_matches(alice, stored, counts):
    """Spack 0.18's analyze sends the installed spec.json: nodes carry the DAG hash only. It is
    the spec stored by its full hash: 200, the stored spec answered, nothing added."""
    doc = _doc()
    for node in doc["spec"]["nodes"]:
        node.pop("full_hash")
        node.pop("build_hash", None)
        for dep in node.get("dependencies", []):
            dep.pop("full_hash", None)
            dep.pop("build_hash", None)
    before = counts()
    r = alice.post("specs/new/", {"spec": doc, "spack_version": SV})
    assert r.status_code == 200, r.text
    assert r.json()["data"] == {"spec": stored, "created": False}
    assert counts() == before
