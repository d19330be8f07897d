"""The ms1 protocol (in-process application, real database): tutorial flows, builds, phases, errors, ownership."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from spackmon_analysis.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data"
SPECS = DATA / "specs"
SINGULARITY = ROOT / "specs" / "singularity-3.6.4.json"
TUTORIAL_VERSION = "0.16.0-1379-7a5351d495"
TUTORIAL_DEPS = {
    "cryptsetup": "tmi4pf6umhalop7mi6zyiv7xjpalyzgb",
    "go": "dehg3ddu6gacrmnoexbxhjv2i2d76yq6",
    "libgpg-error": "4cvsg42wxksiup6x74mlabu6un55wjzc",
    "libseccomp": "kfx6zyjxzudw77e3xk6i73bcgi2cavgh",
    "pkgconf": "al2hlnux3cchfhwiv2sbejnxvnogibac",
    "shadow": "aozeq6ybtsnrs5phtonutwes7fe6yhcy",
    "squashfs": "vpemhhpzqqf7mvpzdvcg6szfah6mwt2q",
    "util-linux-uuid": "g362jjpzlfp3qhfm7gdery6v3xgeh3lg",
}
ENV = {
    "host_os": "debian12",
    "platform": "linux",
    "host_target": "icelake",
    "hostname": "vm",
    "kernel_version": "#1 SMP PREEMPT_DYNAMIC @0",
}
STAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


def upload(api, path: Path, spack_version: str):
    return api.post(
        "specs/new/", {"spec": json.loads(path.read_text()), "spack_version": spack_version}
    )


def test_service_info_and_redirect(mon, http):
    r = http.get(mon.base_url, allow_redirects=False)
    assert r.status_code == 301 and r.headers["Location"].endswith("/ms1/")
    info = http.get(mon.base_url).json()
    assert set(info) == {
        "id",
        "status",
        "name",
        "description",
        "organization",
        "contactUrl",
        "documentationUrl",
        "createdAt",
        "updatedAt",
        "environment",
        "version",
        "auth_instructions_url",
        "extensions",  # ours: the batch extension (tests/server/test_server_batch.py)
    }
    assert info["id"] == "spackmon" and info["status"] == "running"
    assert info["organization"] == {"name": "spack", "url": "https://github.com/spack"}
    assert STAMP.match(info["createdAt"]) and STAMP.match(info["updatedAt"])


def test_tutorial_upload_twice(alice, counts):
    r = upload(alice, SINGULARITY, TUTORIAL_VERSION)
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["message"] == "success" and body["code"] == 201
    spec = body["data"]["spec"]
    assert body["data"]["created"] is True
    assert spec["name"] == "singularity" and spec["version"] == "3.6.4"
    assert spec["full_hash"] == "p64nmszwer36ly7pnch5fznni4cnmndg"
    assert spec["spack_version"] == TUTORIAL_VERSION
    assert spec["specs"] == TUTORIAL_DEPS
    before = counts()
    r2 = upload(alice, SINGULARITY, TUTORIAL_VERSION)
    assert r2.status_code == 200 and r2.json()["data"]["created"] is False
    assert r2.json()["data"]["spec"] == spec
    assert counts() == before  # nothing duplicated


def test_build_sequence(alice, bulk):
    sv = "0.17.1"
    assert upload(alice, SPECS / "tinyapp-spack-0.17.1.json", sv).status_code == 201
    root = bulk("specs", is_root="true")[0]
    r = alice.post(
        "builds/new/", {**ENV, "spack_version": sv, "full_hash": root["full_hash"], "tags": "a, b"}
    )
    assert r.status_code == 201, r.text
    data = r.json()["data"]
    assert data["build_created"] is True and data["build_environment_created"] is True
    assert (
        data["build"]["spec_name"] == "tinyapp"
        and data["build"]["spec_full_hash"] == root["full_hash"]
    )
    assert r.json()["message"] == "Build get or create was successful."
    build_id = data["build"]["build_id"]
    again = alice.post("builds/new/", {**ENV, "spack_version": sv, "full_hash": root["full_hash"]})
    assert again.status_code == 200 and again.json()["data"]["build"]["build_id"] == build_id
    assert again.json()["data"]["build_created"] is False
    for phase in ("autoreconf", "configure", "build", "install"):
        r = alice.post(
            "builds/phases/update/",
            {
                "build_id": build_id,
                "phase_name": phase,
                "status": "SUCCESS",
                "output": f"==> {phase}\n",
            },
        )
        assert r.status_code == 200, r.text
        assert r.json()["message"] == f"Phase {phase} was successfully updated."
        assert r.json()["data"]["build_phase"]["name"] == phase
    # upsert: same phase again replaces, no new row
    r = alice.post(
        "builds/phases/update/",
        {"build_id": build_id, "phase_name": "install", "status": "ERROR", "output": None},
    )
    assert r.status_code == 200
    r = alice.post("builds/update/", {"build_id": build_id, "status": "SUCCESS"})
    assert r.status_code == 200 and r.json()["message"] == "Status updated"
    assert r.json()["data"]["build"] == {
        "build_id": build_id,
        "spec_full_hash": root["full_hash"],
        "spec_name": "tinyapp",
    }
    (build,) = bulk("builds")
    assert (
        build["status"] == "SUCCESS" and build["tags"] == ["a", "b"] and build["owner"] == "alice"
    )
    assert build["hostname"] == "vm" and build["spec_version"] == "0.3"
    phases = bulk("buildphases", build=build_id)
    assert [p["name"] for p in phases] == ["autoreconf", "configure", "build", "install"]
    assert (
        phases[-1]["status"] == "ERROR"
        and phases[-1]["output"] is None
        and phases[-1]["output_size"] == 0
    )


def test_status_update_does_not_cancel_dependencies(alice, bulk):
    sv = "0.17.1"
    upload(alice, SPECS / "tinyapp-spack-0.17.1.json", sv)
    ids = {}
    for spec in bulk("specs"):
        r = alice.post("builds/new/", {**ENV, "spack_version": sv, "full_hash": spec["full_hash"]})
        ids[spec["name"]] = r.json()["data"]["build"]["build_id"]
    alice.post("builds/update/", {"build_id": ids["tinyapp"], "status": "FAILED"})
    statuses = {b["spec_name"]: b["status"] for b in bulk("builds")}
    assert statuses["tinyapp"] == "FAILED"
    assert {v for k, v in statuses.items() if k != "tinyapp"} == {"NOTRUN"}


def test_dag_hash_resolves_build(alice, bulk):
    """Spack 0.18 sends its DAG hash as full_hash: it resolves against every hash of a node."""
    sv = "0.18.0.dev0"
    upload(alice, SPECS / "tinyapp-spack-0.18.0.dev0.json", sv)
    doc = json.loads((SPECS / "tinyapp-spack-0.18.0.dev0.json").read_text())
    dag = doc["spec"]["nodes"][0]["hash"]
    r = alice.post("builds/new/", {**ENV, "spack_version": sv, "full_hash": dag})
    assert r.status_code == 201, r.text
    assert r.json()["data"]["build"]["spec_name"] == "tinyapp"


def test_two_users_same_spec_same_host(alice, bob, bulk):
    sv = "0.17.1"
    upload(alice, SPECS / "tinyapp-spack-0.17.1.json", sv)
    root = bulk("specs", is_root="true")[0]["full_hash"]
    body = {**ENV, "spack_version": sv, "full_hash": root}
    first = alice.post("builds/new/", body)
    second = bob.post("builds/new/", body)
    assert first.status_code == 201 and second.status_code == 200
    build_id = first.json()["data"]["build"]["build_id"]
    assert second.json()["data"]["build"]["build_id"] == build_id
    # the build stays alice's: bob may not update it
    r = bob.post("builds/update/", {"build_id": build_id, "status": "FAILED"})
    assert r.status_code == 403 and "own" in r.json()["message"]
    r = bob.post(
        "builds/phases/update/",
        {"build_id": build_id, "phase_name": "x", "status": "SUCCESS", "output": ""},
    )
    assert r.status_code == 403
    assert bulk("builds")[0]["status"] == "NOTRUN" and bulk("buildphases") == []


def _setup_build(api, bulk) -> int:
    upload(api, SPECS / "zlib-spack-0.17.1.json", "0.17.1")
    root = bulk("specs")[0]["full_hash"]
    return api.post("builds/new/", {**ENV, "spack_version": "0.17.1", "full_hash": root}).json()[
        "data"
    ]["build"]["build_id"]


BAD_REQUESTS = [
    # (path, raw body, status, message fragment)
    ("specs/new/", "not json", 400, "not valid JSON"),
    ("specs/new/", "", 400, "empty"),
    ("specs/new/", "[1, 2]", 400, "JSON object"),
    ("specs/new/", '{"spec": {"nodes": []}}', 400, "A spack_version string is required"),
    (
        "specs/new/",
        '{"spec": {"x": 1}, "spack_version": ""}',
        400,
        "A spack_version string is required",
    ),
    ("specs/new/", '{"spack_version": "0.17.1"}', 400, "spec"),
    ("specs/new/", '{"spec": {"nodes": "bad"}, "spack_version": "0.17.1"}', 400, "Invalid spec"),
    (
        "specs/new/",
        '{"spec": [{"zlib": {"dependencies": 5}}], "spack_version": "0.17.1"}',
        400,
        "Invalid spec",
    ),
    ("builds/new/", "{}", 400, "Missing required build environment data."),
    (
        "builds/new/",
        json.dumps({**ENV, "spack_version": "0.17.1"}),
        400,
        "Missing required build environment data.",
    ),
    (
        "builds/new/",
        json.dumps({**ENV, "spack_version": "0.17.1", "full_hash": 5}),
        400,
        "full_hash",
    ),
    (
        "builds/new/",
        json.dumps({**ENV, "spack_version": "0.17.1", "full_hash": "nope"}),
        400,
        "The spec with full hash nope and spack version 0.17.1 does not exist.",
    ),
    ("builds/update/", "{}", 400, "Missing required build id."),
    (
        "builds/update/",
        '{"build_id": "abc", "status": "SUCCESS"}',
        400,
        "build_id must be an integer",
    ),
    (
        "builds/update/",
        '{"build_id": true, "status": "SUCCESS"}',
        400,
        "build_id must be an integer",
    ),
    (
        "builds/update/",
        '{"build_id": BUILD, "status": 5}',
        400,
        "Invalid status. Choices are CANCELLED,SUCCESS,NOTRUN,FAILED",
    ),
    ("builds/update/", '{"build_id": BUILD, "status": "DONE"}', 400, "Invalid status"),
    ("builds/update/", '{"build_id": 999999, "status": "SUCCESS"}', 404, "does not exist"),
    ("builds/phases/update/", '{"status": "SUCCESS"}', 400, "Missing required build_id."),
    ("builds/phases/update/", '{"build_id": BUILD}', 400, "phase_name, and status are required."),
    (
        "builds/phases/update/",
        '{"build_id": BUILD, "phase_name": "b", "status": "WAT"}',
        400,
        "Invalid phase status",
    ),
    (
        "builds/phases/update/",
        '{"build_id": BUILD, "phase_name": ["b"], "status": "SUCCESS"}',
        400,
        "phase_name must be a string",
    ),
    (
        "builds/phases/update/",
        '{"build_id": BUILD, "phase_name": "b", "status": "SUCCESS", "output": 7}',
        400,
        "output must be a string",
    ),
    (
        "builds/phases/update/",
        '{"build_id": 999999, "phase_name": "b", "status": "SUCCESS"}',
        404,
        "does not exist",
    ),
    ("analyze/builds/", '{"build_id": BUILD}', 400, "metadata"),
    (
        "analyze/builds/",
        '{"build_id": BUILD, "metadata": {"environment_variables": [1]}}',
        400,
        "environment_variables",
    ),
    (
        "analyze/builds/",
        '{"build_id": BUILD, "metadata": {"config_args": "x", "myanalyzer": [{"value": 1}]}}',
        400,
        "myanalyzer[0]",
    ),
    ("analyze/builds/", '{"build_id": 999999, "metadata": {}}', 404, "does not exist"),
    (
        "builds/new/",
        json.dumps({**ENV, "spack_version": "0.17.1", "full_hash": "x", "tags": ["a"]}),
        400,
        "tags must be a comma-separated string",
    ),
]


def test_bad_requests_change_nothing(alice, bulk, counts):
    build_id = _setup_build(alice, bulk)
    before = counts()
    for path, raw, status, fragment in BAD_REQUESTS:
        r = alice.post(path, data=raw.replace("BUILD", str(build_id)))
        assert r.status_code == status, (path, raw, r.status_code, r.text)
        assert fragment in r.json()["message"], (path, raw, r.json())
        assert counts() == before, (path, raw)
    assert bulk("builds")[0]["status"] == "NOTRUN"


def test_analyze_rejected_late_rolls_back(alice, bulk, counts):
    """A bad analyzer entry after valid install files leaves the earlier writes undone."""
    build_id = _setup_build(alice, bulk)
    before = counts()
    body = {
        "build_id": build_id,
        "metadata": {
            "install_files": {
                "/opt/p/zlib/lib/libz.so": {"mode": 33261, "owner": 0, "group": 0, "type": "file"}
            },
            "environment_variables": {"CC": "gcc"},
            "zzz": "not a list",
        },
    }
    r = alice.post("analyze/builds/", body)
    assert r.status_code == 400 and "zzz" in r.json()["message"]
    assert counts() == before


def test_body_too_large(db_url):
    from spackmon_analysis.server import LocalMonitor

    with LocalMonitor(db_url, max_body_size=1000, in_process=True) as m:
        m.add_user("u")
        s = m.session()
        tok = s.get(f"{m.base_url}/auth/token/", auth=("u", m.tokens["u"])).json()["token"]
        r = s.post(
            f"{m.base_url}/specs/new/", data="x" * 5000, headers={"Authorization": f"Bearer {tok}"}
        )
        assert r.status_code == 413 and "exceeds" in r.json()["message"]


def test_specs_by_name(alice, mon, http):
    upload(alice, SPECS / "zlib-spack-0.17.1.json", "0.17.1")
    upload(alice, SPECS / "zlib-spack-0.21.2.json", "0.21.2")
    r = http.get(f"{mon.base_url}/specs/name/zlib/")
    assert r.status_code == 200
    found = r.json()["data"]["specs"]
    assert {s["spack_version"] for s in found} == {"0.17.1", "0.21.2"}
    assert http.get(f"{mon.base_url}/specs/name/nosuch/").json()["data"]["specs"] == []


def test_analyze_stores_relative_paths_and_replaces(alice, bulk):
    build_id = _setup_build(alice, bulk)
    manifest_path = next((DATA / "installs").rglob("install_manifest.json"))
    manifest = json.loads(manifest_path.read_text())
    prefix = next(p for p in manifest if "/.spack/" in p).split("/.spack/")[0]
    some_file = next(p for p, v in manifest.items() if v.get("type") == "file")
    body = {
        "build_id": build_id,
        "metadata": {
            "install_files": manifest,
            "environment_variables": {"SPACK_CC": "gcc", "PATH": "/usr/bin"},
            "config_args": "--prefix=/x",
            "libabigail": [{"install_file": some_file, "name": "abi", "json_value": '{"a": 1}'}],
        },
    }
    r = alice.post("analyze/builds/", body)
    assert r.status_code == 200 and r.json()["message"] == "Metadata updated", r.text
    files = bulk("installfiles", build=build_id)
    assert len(files) == len(manifest)
    rel = {f["path"]: f for f in files}
    for abspath, info in manifest.items():
        # Spack's manifest lists the prefix directory itself; relative to the prefix it is "."
        # (the convention of spackmon_analysis.loaders.installs and os.path.relpath), never "".
        stored = rel[os.path.relpath(abspath, prefix)]
        assert (
            stored["prefix"] == prefix
            and stored["mode"] == info["mode"]
            and stored["ftype"] == info["type"]
        )
        if "hash" in info:
            assert stored["hash"] == info["hash"] and stored["size"] == info["size"]
    (attr,) = bulk("attributes", build=build_id)
    assert attr["json_value"] == {"a": 1} and attr["install_file"] == some_file[len(prefix) + 1 :]
    assert {e["name"] for e in bulk("environmentvariable", build=build_id)} == {"SPACK_CC", "PATH"}
    assert bulk("builds")[0]["config_args"] == "--prefix=/x"
    # re-send replaces
    body["metadata"] = {"environment_variables": {"ONLY": "1"}, "libabigail": []}
    assert alice.post("analyze/builds/", body).status_code == 200
    assert [e["name"] for e in bulk("environmentvariable", build=build_id)] == ["ONLY"]
    assert bulk("attributes", build=build_id) == []
    assert len(bulk("installfiles", build=build_id)) == len(manifest)


def test_same_answers_without_fast_path(db_url):
    """The FastAPI routes (fast_path=False) answer exactly like the ASGI fast path."""
    from spackmon_analysis.server import LocalMonitor

    answers = []
    for fast in (True, False):
        with LocalMonitor(db_url, fast_path=fast, in_process=True) as m:
            m.add_user("u")
            s = m.session()
            r = s.post(f"{m.base_url}/specs/new/", data="{}")
            answers.append(
                (
                    r.status_code,
                    r.json()["message"],
                    r.headers["Www-Authenticate"].split("/ms1")[-1],
                )
            )
            tok = s.get(f"{m.base_url}/auth/token/", auth=("u", m.tokens["u"])).json()["token"]
            s.headers["Authorization"] = f"Bearer {tok}"
            for raw in ("nope", '{"build_id": 1, "status": "SUCCESS"}'):
                r = s.post(f"{m.base_url}/builds/update/", data=raw)
                answers.append((r.status_code, r.json()))
            doc = json.loads((SPECS / "zlib-spack-0.17.1.json").read_text())
            r = s.post(f"{m.base_url}/specs/new/", json={"spec": doc, "spack_version": "0.17.1"})
            answers.append((r.status_code, r.json()))
            if fast:
                m.stop()
                if db_url:  # PostgreSQL: start the second server on a clean schema
                    from sqlalchemy import create_engine

                    from spackmon_analysis.server.tables import metadata

                    eng = create_engine(db_url)
                    metadata.drop_all(eng)
                    eng.dispose()
    half = len(answers) // 2
    assert answers[:half] == answers[half:]


def test_local_monitor_handle(db_url):
    from spackmon_analysis import LocalMonitor

    mon = LocalMonitor(db_url)
    assert "stopped" in repr(mon)
    with mon:
        assert mon.port > 0 and mon.url == f"http://127.0.0.1:{mon.port}"
        assert mon.base_url == mon.url + "/ms1" and mon.prefix == "ms1" and mon.db_url
        assert "running" in repr(mon) and mon.base_url in repr(mon)
        token = mon.add_user("carol")
        assert re.fullmatch(r"[0-9a-f]{40}", token)
        client = mon.client("carol", progress=False)
        assert client.service_info()["id"] == "spackmon"
        assert (client.username, client.token) == ("carol", token)
    assert not mon.running
    with pytest.raises(ConfigError):
        mon.add_user("dave")
