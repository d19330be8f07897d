"""SQLite and PostgreSQL give the same answer to the same input (issue 14).

One list of odd inputs (over-long strings in every sized field, NaN and Infinity, lone surrogates,
integers beyond 32 and 64 bits, values of the wrong type) goes to a SQLite server and to a
PostgreSQL server; the two lists of answers (status and message) must be equal, and no answer a
5xx. Needs PostgreSQL (skipped without it, failed with SPACKMON_REQUIRE_POSTGRES=1).
"""

from __future__ import annotations

import json
from pathlib import Path

from testlib import BUILD_ENV as ENV
from testlib import postgres_schema

from spackmon_analysis.server import LocalMonitor

SPECS = Path(__file__).resolve().parents[1] / "data" / "specs"
LONG = "y" * 260
HUGE = "z" * 70


def _doc(**root_changes: object) -> dict:
    doc = json.loads((SPECS / "tinyapp-spack-0.17.1.json").read_text())
    doc["spec"]["nodes"][0].update(root_changes)
    return doc


def _cases() -> list[tuple[str, object]]:
    """(endpoint, body) pairs; ``BID`` in a body is the build id (1 on both fresh databases)."""
    phase = {"build_id": 1, "status": "SUCCESS", "output": "ok"}
    analyze = {"build_id": 1}
    cases: list[tuple[str, object]] = [
        ("specs/new/", {"spec": _doc(), "spack_version": "0.17.1"}),
        ("builds/new/", {**ENV, "spack_version": "0.17.1", "full_hash": "FULL"}),
    ]
    for field in ("name", "version", "namespace", "full_hash", "hash", "build_hash"):
        cases.append(("specs/new/", {"spec": _doc(**{field: LONG}), "spack_version": "9"}))
    cases.append(("specs/new/", {"spec": _doc(hash=HUGE), "spack_version": "9"}))
    cases.append(("specs/new/", {"spec": _doc(), "spack_version": LONG}))
    for field in ("hostname", "host_os", "platform", "host_target", "kernel_version"):
        cases.append(
            ("builds/new/", {**ENV, field: LONG, "spack_version": "0.17.1", "full_hash": "FULL"})
        )
    cases += [
        ("builds/new/", {**ENV, "spack_version": LONG, "full_hash": "FULL"}),
        ("builds/new/", {**ENV, "spack_version": "0.17.1", "full_hash": LONG}),
        ("builds/new/", {**ENV, "spack_version": "0.17.1", "full_hash": "FULL", "tags": LONG}),
        ("builds/phases/update/", {**phase, "phase_name": LONG}),
        ("builds/phases/update/", {**phase, "phase_name": "p", "status": LONG}),
        ("builds/phases/update/", {**phase, "phase_name": 7}),
        ("builds/phases/update/", {**phase, "phase_name": "\ud800"}),
        ("builds/phases/update/", {**phase, "phase_name": "q", "output": 12}),
        ("builds/update/", {"build_id": 2**31, "status": "SUCCESS"}),
        ("builds/update/", {"build_id": 2**40, "status": "SUCCESS"}),
        ("builds/update/", {"build_id": 1, "status": LONG}),
    ]
    files = {
        "type": {"type": LONG},
        "hash": {"hash": LONG},
        "time": {"time": LONG},
        "mode": {"mode": 2**40},
        "owner": {"owner": 2**63},
        "size": {"size": 2**33},
        "ftype int": {"type": 5},
        "extra": {"whatever": [1.5, None, {"x": LONG * 10}]},
    }
    for info in files.values():
        cases.append(
            ("analyze/builds/", {**analyze, "metadata": {"install_files": {"/p/.spack/f": info}}})
        )
    cases += [
        ("analyze/builds/", {**analyze, "metadata": {LONG: [{"name": "n"}]}}),
        ("analyze/builds/", {**analyze, "metadata": {"an": [{"name": LONG * 100}]}}),
        ("analyze/builds/", {**analyze, "metadata": {"an": [{"name": "n", "value": 2**80}]}}),
        ("analyze/builds/", {**analyze, "metadata": {"environment_variables": {LONG: LONG}}}),
        ("analyze/builds/", {**analyze, "metadata": {"config_args": LONG * 100}}),
        (
            "analyze/builds/",
            {**analyze, "metadata": {"an": [{"name": "j", "json_value": "1e999"}]}},
        ),
        ("analyze/builds/", '{"build_id": 1, "metadata": {"an": [{"name": "n", "value": NaN}]}}'),
        (
            "analyze/builds/",
            {**analyze, "metadata": {"an": [{"name": "b", "binary_value": "\x00"}]}},
        ),
    ]
    return cases


def _answers(mon: LocalMonitor) -> list[tuple[int, str]]:
    mon.add_user("alice")
    s = mon.session()
    r = s.get(f"{mon.base_url}/auth/token/", auth=("alice", mon.tokens["alice"]))
    s.headers["Authorization"] = "Bearer " + r.json()["token"]
    full = _doc()["spec"]["nodes"][0]["full_hash"]
    out = []
    for endpoint, body in _cases():
        text = body if isinstance(body, str) else json.dumps(body)
        r = s.post(f"{mon.base_url}/{endpoint}", data=text.replace("FULL", full))
        out.append((endpoint, r.status_code, r.json().get("message")))
    for route in ("specs", "builds", "buildphases", "installfiles", "attributes"):
        r = mon.session().get(f"{mon.url}/api/{route}/", params={"limit": 1000})
        rows = r.json()["results"]
        for row in rows:  # ids and clocks may differ; everything else must not
            for key in ("id", "created_at", "updated_at"):
                row.pop(key, None)
        out.append((route, r.status_code, json.dumps(rows, sort_keys=True)))
    return out


def test_sqlite_and_postgresql_answer_alike():
    with LocalMonitor(in_process=True) as lite:
        sqlite = _answers(lite)
    with postgres_schema() as url, LocalMonitor(url, in_process=True) as pg:
        postgres = _answers(pg)
    assert all(status < 500 for _e, status, _m in sqlite + postgres)
    for a, b in zip(sqlite, postgres, strict=True):
        assert a == b
    statuses = [status for _e, status, _m in sqlite]
    assert statuses.count(400) >= 20  # the limits did refuse most of the odd inputs
