"""Atomic writes: a request rejected part-way leaves every table exactly as it was.

For each write endpoint the request is made to fail after it has already written rows: by a real
request where one exists (a builds/new that imports its spec, then names a hash that does not
exist; an analyze whose last analyzer entry is bad), else by fault injection (a helper of the
endpoint's module in ``server/ingest/`` that runs after the endpoint's first writes is patched to raise). Before and after, every row of
every table is compared column by column, ids and timestamps included.
"""

from __future__ import annotations

import json

import pytest
import relhelp
from testlib import BUILD_ENV as ENV

from spackmon_analysis.server import LocalMonitor
from spackmon_analysis.server.ingest import analyze, buildwrites, phases, specdocs

SPECS = relhelp.TESTS / "data" / "specs"
LOG = "checking...\nsrc/a.c:10:5: error: 'x' undeclared\nsrc/b.c:3:1: warning: unused\n"


class Boom(RuntimeError):
    """The injected fault."""


def _raise(*_a, **_k):
    raise Boom("injected fault")


@pytest.fixture(params=relhelp.BACKENDS)
def env(request, tmp_path):
    """A server holding one spec, one build (with a phase with events, and analyze data)."""
    with (
        relhelp.database(request.param, tmp_path) as url,
        LocalMonitor(url, in_process=True) as mon,
    ):
        mon.add_user("alice")
        s = mon.session()
        tok = s.get(f"{mon.base_url}/auth/token/", auth=("alice", mon.tokens["alice"]))
        s.headers["Authorization"] = "Bearer " + tok.json()["token"]

        def post(path, body):
            return s.post(f"{mon.base_url}/{path}", data=json.dumps(body))

        doc = json.loads((SPECS / "tinyapp-spack-0.17.1.json").read_text())
        root = post("specs/new/", {"spec": doc, "spack_version": "0.17.1"}).json()["data"]
        root = root["spec"]["full_hash"]
        r = post("builds/new/", {**ENV, "spack_version": "0.17.1", "full_hash": root})
        build_id = r.json()["data"]["build"]["build_id"]
        r = post(
            "builds/phases/update/",
            {"build_id": build_id, "phase_name": "build", "status": "ERROR", "output": LOG},
        )
        assert r.status_code == 200
        r = post(
            "analyze/builds/",
            {
                "build_id": build_id,
                "metadata": {
                    "install_files": {
                        "/opt/p/x/.spack/spec.json": {"mode": 33188, "type": "file"},
                        "/opt/p/x/lib/libx.so": {"mode": 33261, "type": "file"},
                    },
                    "environment_variables": {"CC": "gcc"},
                    "config_args": "--prefix=/opt/p/x",
                    "libabigail": [
                        {"install_file": "/opt/p/x/lib/libx.so", "name": "abi", "value": "1"}
                    ],
                },
            },
        )
        assert r.status_code == 200
        yield {"mon": mon, "post": post, "build_id": build_id, "root": root}


def _unchanged(env, request, expect_status, what, fault=None):
    """Run ``request()`` (with ``fault`` = (module, helper name) patched to raise), check its status, and
    that no table changed at all."""
    engine = env["mon"].store.read
    before = relhelp.raw_dump(engine)
    with pytest.MonkeyPatch.context() as mp:
        if fault:
            mp.setattr(*fault, _raise)
        r = request()
    assert r.status_code == expect_status, (what, r.status_code, r.text)
    after = relhelp.raw_dump(engine)
    for table in before:
        assert after[table] == before[table], f"{what}: table {table} changed"
    relhelp.add("atomicity: rejected-part-way requests checked", 1)
    relhelp.add("atomicity: rows compared (every column)", relhelp.n_rows(before))
    # the server is still healthy afterwards: a good write succeeds
    ok = env["post"]("builds/update/", {"build_id": env["build_id"], "status": "FAILED"})
    assert ok.status_code == 200, ok.text
    return r


def test_specs_new_fault_after_nodes_and_edges(env):
    """specs/new: all nodes and edges of a new DAG inserted, then a fault: nothing stays."""
    doc = json.loads((SPECS / "zlib-spack-0.17.1.json").read_text())
    body = {"spec": doc, "spack_version": "0.17.1"}
    _unchanged(
        env,
        lambda: env["post"]("specs/new/", body),
        500,
        "specs/new fault",
        fault=(specdocs, "_stored_summary"),
    )


def test_builds_new_spec_imported_then_unknown_hash(env):
    """builds/new (real request): its spec document is imported, then full_hash is unknown."""
    doc = json.loads((SPECS / "zlib-spack-0.21.2.json").read_text())
    body = {**ENV, "spack_version": "0.21.2", "full_hash": "nosuchhash", "spec": doc}
    r = _unchanged(env, lambda: env["post"]("builds/new/", body), 400, "builds/new unknown hash")
    assert "does not exist" in r.json()["message"]


def test_builds_new_fault_after_environment_row(env):
    """builds/new: a new build environment row inserted, then the build insert fails."""
    body = {**ENV, "hostname": "other-host", "spack_version": "0.17.1", "full_hash": env["root"]}
    _unchanged(
        env,
        lambda: env["post"]("builds/new/", body),
        500,
        "builds/new fault",
        fault=(buildwrites, "utcnow"),
    )


def test_builds_update_fault_after_status_written(env):
    """builds/update: the status row updated, then a fault before the answer."""
    body = {"build_id": env["build_id"], "status": "SUCCESS"}
    _unchanged(
        env,
        lambda: env["post"]("builds/update/", body),
        500,
        "builds/update fault",
        fault=(buildwrites, "_build_summary"),
    )


@pytest.mark.parametrize("phase", ["build", "install"], ids=["existing-phase", "new-phase"])
def test_phase_fault_after_phase_row(env, phase):
    """phases/update: the phase row inserted (or updated and its events deleted), then the
    event insertion raises: the old phase, its output and its events are all still there."""
    body = {"build_id": env["build_id"], "phase_name": phase, "status": "SUCCESS", "output": LOG}
    _unchanged(
        env,
        lambda: env["post"]("builds/phases/update/", body),
        500,
        "phase fault",
        fault=(phases, "_event_rows"),
    )


def test_analyze_rejected_after_replacing(env):
    """analyze (real request): files, variables and config replaced, then a bad analyzer entry."""
    body = {
        "build_id": env["build_id"],
        "metadata": {
            "install_files": {"/opt/q/.spack/a": {"mode": 1, "type": "file"}},
            "environment_variables": {"ONLY": "1"},
            "config_args": "changed",
            "libabigail": [],
            "zzz": "not a list",
        },
    }
    r = _unchanged(env, lambda: env["post"]("analyze/builds/", body), 400, "analyze bad key")
    assert "zzz" in r.json()["message"]


def test_analyze_fault_after_replacing(env):
    """analyze: everything replaced, then a fault in the last step."""
    body = {
        "build_id": env["build_id"],
        "metadata": {"environment_variables": {"ONLY": "1"}, "install_files": {}},
    }
    _unchanged(
        env,
        lambda: env["post"]("analyze/builds/", body),
        500,
        "analyze fault",
        fault=(analyze, "_build_summary"),
    )
