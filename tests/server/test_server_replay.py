"""Replay of the real --monitor-save-local runs (tests/data/save-local) with plain requests."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

SAVE_LOCAL = Path(__file__).resolve().parents[2] / "tests" / "data" / "save-local"


def replay(api, run: Path) -> dict[str, int]:
    """PROTOCOL section 6 order: specs, builds, phases, statuses; each file to its own build."""
    for spec_file in sorted(run.glob("spec-*-config.json")):
        r = api.post("specs/new/", data=spec_file.read_text())
        assert r.status_code in (200, 201), r.text
    server_ids = {}
    for meta in sorted(run.glob("build-metadata-*.json")):
        local_id = meta.name[len("build-metadata-") : -len(".json")]
        r = api.post("builds/new/", data=meta.read_text())
        assert r.status_code in (200, 201), r.text
        server_ids[local_id] = r.json()["data"]["build"]["build_id"]
    for phase in sorted(run.glob("build-*-phase-*.json")):
        body = json.loads(phase.read_text())
        body["build_id"] = server_ids[body["build_id"]]
        assert api.post("builds/phases/update/", body).status_code == 200
    for status in sorted(run.glob("build-*-status.json")):
        body = json.loads(status.read_text())
        body["build_id"] = server_ids[body["build_id"]]
        assert api.post("builds/update/", body).status_code == 200
    return server_ids


def test_replay_success_run(alice, bulk, counts):
    run = SAVE_LOCAL / "v0.17.1-success-tinyapp"
    ids = replay(alice, run)
    builds = {b["id"]: b for b in bulk("builds")}
    assert set(builds) == set(ids.values())
    assert {b["status"] for b in builds.values()} == {"SUCCESS"}
    for local, server in ids.items():
        meta = json.loads((run / f"build-metadata-{local}.json").read_text())
        assert builds[server]["full_hash"] == meta["full_hash"]
        assert builds[server]["tags"] == [t for t in meta.get("tags", "").split(",") if t]
        expected = sorted(
            p.name.split("-phase-")[1][:-5] for p in run.glob(f"build-{local}-phase-*.json")
        )
        assert sorted(p["name"] for p in bulk("buildphases", build=server)) == expected
        assert {p["status"] for p in bulk("buildphases", build=server)} == {"SUCCESS"}
    before = counts()
    assert replay(alice, run) == ids  # replaying twice duplicates nothing
    assert counts() == before


def test_replay_failure_run(alice, bulk):
    run = SAVE_LOCAL / "v0.17.1-failure-tinybrokenapp"
    ids = replay(alice, run)
    broken = ids["1ab48b1b401db81a0b850246f96a0136"]
    app = ids["5dc1b4dfa0a36b7fe9009965aa24e445"]
    status = {b["id"]: b["status"] for b in bulk("builds")}
    # 0.17.1: the package that really failed has an ERROR phase and no status file
    assert status == {broken: "NOTRUN", app: "FAILED"}
    phases = {p["name"]: p for p in bulk("buildphases", build=broken)}
    assert phases["build"]["status"] == "ERROR" and phases["edit"]["status"] == "SUCCESS"
    assert bulk("buildphases", build=app) == []
    errors = bulk("builderrors", build=broken)
    assert errors, "the compiler error in the build phase is stored"
    assert all(e["phase"] == phases["build"]["id"] and e["phase_name"] == "build" for e in errors)
    first = errors[0]
    assert "error: expected ',' or ';' before 'return'" in first["text"]
    assert first["source_file"] == "broken.c" and first["source_line_no"] == 4
    output_lines = phases["build"]["output"].splitlines()
    assert output_lines[first["line_no"] - 1] == first["text"]
    assert bulk("builderrors", build=app) == []


@pytest.mark.parametrize("run", ["v0.17.1-success-tinyapp", "v0.17.1-failure-tinybrokenapp"])
def test_phase_resend_replaces_events(alice, bulk, run):
    ids = replay(alice, SAVE_LOCAL / run)
    events = {r: bulk(r) for r in ("builderrors", "buildwarnings")}
    replay(alice, SAVE_LOCAL / run)
    assert {r: [{k: v for k, v in e.items() if k != "id"} for e in bulk(r)] for r in events} == {
        r: [{k: v for k, v in e.items() if k != "id"} for e in rows] for r, rows in events.items()
    }
    assert ids
