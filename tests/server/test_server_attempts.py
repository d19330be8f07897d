"""Every attempt of a build kept (issue 13): the attempt rule of docs/server.md ("Attempts"), the
build row showing the latest attempt, the data API's attempt routes, and replayed runs dated by
the run -- on SQLite and PostgreSQL, through the real application (``mon``)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from testlib import BUILD_ENV

DATA = Path(__file__).resolve().parents[1] / "data"
SPECS = DATA / "specs"
SV = "0.17.1"


def _build(alice, bulk, name: str = "tinyapp", **extra) -> int:
    import json

    doc = json.loads((SPECS / "tinyapp-spack-0.17.1.json").read_text())
    assert alice.post("specs/new/", {"spec": doc, "spack_version": SV}).status_code in (200, 201)
    spec = next(s for s in bulk("specs") if s["name"] == name)
    r = alice.post(
        "builds/new/", {**BUILD_ENV, "spack_version": SV, "full_hash": spec["full_hash"], **extra}
    )
    assert r.status_code in (200, 201), r.text
    return r.json()["data"]["build"]["build_id"]


def _phase(alice, build_id: int, name: str, status: str, output: str | None, **extra):
    body = {"build_id": build_id, "phase_name": name, "status": status, "output": output}
    r = alice.post("builds/phases/update/", {**body, **extra})
    assert r.status_code == 200, r.text
    return r


def _status(alice, build_id: int, status: str, **extra):
    r = alice.post("builds/update/", {"build_id": build_id, "status": status, **extra})
    assert r.status_code == 200, r.text
    return r


def _attempts(bulk, build_id: int) -> list[dict]:
    return sorted(bulk("attempts", build=build_id), key=lambda a: a["number"])


def test_a_rerun_after_builds_new_is_a_new_attempt_and_the_build_shows_it(alice, bulk, http):
    build_id = _build(alice, bulk)
    _phase(alice, build_id, "configure", "SUCCESS", "==> [2026-11-28-06:00:00.000000] configure\n")
    _phase(alice, build_id, "build", "ERROR", "==> [2026-11-28-06:00:01.000000] build\nerror: x\n")
    _status(alice, build_id, "FAILED")
    # a re-run: Spack sends builds/new again, then its phases (new logs) and status
    again = alice.post(
        "builds/new/", {**BUILD_ENV, "spack_version": SV, "full_hash": _hash(bulk, build_id)}
    )
    assert again.status_code == 200
    assert again.json()["data"] == {  # the protocol's answer is unchanged
        "build_created": False,
        "build_environment_created": False,
        "build": {
            "build_id": build_id,
            "spec_full_hash": _hash(bulk, build_id),
            "spec_name": "tinyapp",
        },
    }
    _phase(alice, build_id, "configure", "SUCCESS", "==> [2026-11-29-06:00:00.000000] configure\n")
    (build,) = bulk("builds")
    assert build["status"] == "NOTRUN"  # the new attempt has no status yet
    _phase(alice, build_id, "build", "SUCCESS", "==> [2026-11-29-06:00:01.000000] build\n")
    _status(alice, build_id, "SUCCESS")

    first, second = _attempts(bulk, build_id)
    assert (first["number"], first["status"], first["latest"]) == (1, "FAILED", False)
    assert (second["number"], second["status"], second["latest"]) == (2, "SUCCESS", True)
    assert second["started_at"] >= first["started_at"] and second["run_time"] is None
    (build,) = bulk("builds")
    assert (build["status"], build["attempt"], build["attempts"]) == ("SUCCESS", second["id"], 2)
    # the build's phases and errors are its latest attempt's; every attempt's are kept
    latest = bulk("buildphases", build=build_id)
    assert [(p["name"], p["status"], p["attempt"]) for p in latest] == [
        ("configure", "SUCCESS", second["id"]),
        ("build", "SUCCESS", second["id"]),
    ]
    every = bulk("attemptphases", build=build_id)
    assert sorted((p["attempt"], p["name"], p["status"]) for p in every) == sorted(
        [
            (first["id"], "configure", "SUCCESS"),
            (first["id"], "build", "ERROR"),
            (second["id"], "configure", "SUCCESS"),
            (second["id"], "build", "SUCCESS"),
        ]
    )
    assert bulk("builderrors", build=build_id) == []
    (error,) = bulk("attempterrors", build=build_id)
    assert error["attempt"] == first["id"] and error["phase_name"] == "build"
    assert [e["text"] for e in bulk("attempterrors", attempt=first["id"])] == ["error: x"]
    # one build's attempts, paged like every route
    page = http.get(f"{alice.mon.url}/api/builds/{build_id}/attempts/", params={"limit": 1})
    assert page.status_code == 200, page.text
    body = page.json()
    assert body["count"] == 2 and [a["id"] for a in body["results"]] == [first["id"]]
    assert "offset=1" in body["next"]
    missing = http.get(f"{alice.mon.url}/api/builds/999999/attempts/")
    assert missing.status_code == 404 and "999999" in missing.json()["message"]
    old = http.get(f"{alice.mon.url}/api/attemptphases/{every[0]['id']}/")
    assert old.status_code == 200 and old.json()["attempt"] in (first["id"], second["id"])


def _hash(bulk, build_id: int) -> str:
    return next(b["full_hash"] for b in bulk("builds") if b["id"] == build_id)


def test_repeats_and_corrections_stay_in_the_same_attempt(alice, bulk):
    build_id = _build(alice, bulk)
    log = "==> [2026-11-28-06:00:00.000000] build\n"
    _phase(alice, build_id, "build", "SUCCESS", log)
    _status(alice, build_id, "SUCCESS")
    # the same files sent again after a builds/new (a replay without dates, a retried request)
    alice.post(
        "builds/new/", {**BUILD_ENV, "spack_version": SV, "full_hash": _hash(bulk, build_id)}
    )
    _phase(alice, build_id, "build", "SUCCESS", log)
    _status(alice, build_id, "SUCCESS")
    assert len(_attempts(bulk, build_id)) == 1
    # without a builds/new, a phase sent again is the protocol's upsert: a correction
    _phase(alice, build_id, "build", "ERROR", None)
    (attempt,) = _attempts(bulk, build_id)
    assert [(p["name"], p["status"]) for p in bulk("buildphases")] == [("build", "ERROR")]
    # a builds/new that nothing follows (an analyze run, a package already installed) opens none
    alice.post(
        "builds/new/", {**BUILD_ENV, "spack_version": SV, "full_hash": _hash(bulk, build_id)}
    )
    r = alice.post("analyze/builds/", {"build_id": build_id, "metadata": {"config_args": "x"}})
    assert r.status_code == 200
    assert _attempts(bulk, build_id) == [attempt]


def test_a_reopened_build_whose_attempt_did_nothing_keeps_it(alice, bulk):
    build_id = _build(alice, bulk)
    alice.post(
        "builds/new/", {**BUILD_ENV, "spack_version": SV, "full_hash": _hash(bulk, build_id)}
    )
    _phase(alice, build_id, "build", "SUCCESS", "==> build\n")
    (attempt,) = _attempts(bulk, build_id)
    assert attempt["number"] == 1 and attempt["latest"]


def test_replayed_runs_are_attempts_dated_by_their_run_in_any_order(alice, bulk):
    runs = ["2026-11-30T06:00:00Z", "2026-11-28T06:00:00Z", "2026-11-29T06:00:00+00:00"]
    statuses = {runs[0]: "SUCCESS", runs[1]: "FAILED", runs[2]: "FAILED"}
    build_id = None
    for when in runs + runs:  # every run twice: the second time finds its own attempt
        r = alice.post(
            "builds/new/",
            {
                **BUILD_ENV,
                "spack_version": SV,
                "full_hash": _spec_hash(alice, bulk),
                "run_time": when,
            },
        )
        data = r.json()["data"]
        build_id = data["build"]["build_id"]
        assert set(data["attempt"]) == {"id", "number", "created", "latest"}
        _phase(alice, build_id, "build", "SUCCESS", f"==> {when}\n", run_time=when)
        _status(alice, build_id, statuses[when], run_time=when)
    assert build_id is not None
    attempts = _attempts(bulk, build_id)
    assert [(a["number"], a["run_time"], a["status"], a["latest"]) for a in attempts] == [
        (1, "2026-11-28T06:00:00.000000Z", "FAILED", False),
        (2, "2026-11-29T06:00:00.000000Z", "FAILED", False),
        (3, "2026-11-30T06:00:00.000000Z", "SUCCESS", True),
    ]
    assert all(a["started_at"] == a["run_time"] for a in attempts)
    (build,) = bulk("builds")  # the latest run's state, though it was not replayed last
    assert build["status"] == "SUCCESS" and build["attempts"] == 3
    assert [p["output"] for p in bulk("buildphases", output=1)] == ["==> 2026-11-30T06:00:00Z\n"]
    assert len(bulk("attemptphases")) == 3


def _spec_hash(alice, bulk) -> str:
    import json

    doc = json.loads((SPECS / "tinyapp-spack-0.17.1.json").read_text())
    alice.post("specs/new/", {"spec": doc, "spack_version": SV})
    return next(s["full_hash"] for s in bulk("specs") if s["name"] == "tinyapp")


def test_a_bad_run_time_is_refused_naming_the_field(alice, bulk, counts):
    build_id = _build(alice, bulk)
    before = counts()
    for bad in ("yesterday", 20261128, "", "2026-13-01T00:00:00Z"):
        for path, body in (
            ("builds/update/", {"build_id": build_id, "status": "SUCCESS"}),
            ("builds/phases/update/", {"build_id": build_id, "phase_name": "x", "status": "ERROR"}),
            (
                "builds/new/",
                {**BUILD_ENV, "spack_version": SV, "full_hash": _hash(bulk, build_id)},
            ),
        ):
            r = alice.post(path, {**body, "run_time": bad})
            assert r.status_code == 400, (path, bad, r.text)
            assert "run_time must be an ISO 8601 time" in r.json()["message"]
    assert counts() == before  # nothing half-written


def test_the_database_summary_counts_builds_by_their_latest_attempt_and_trends_every_attempt(
    alice, bulk, mon
):
    from spackmon_analysis import MonitorData, failure_rates, failure_trends
    from spackmon_analysis.dashboard import database_summary

    build_id = _build(alice, bulk)
    _phase(alice, build_id, "build", "ERROR", "==> [2026-11-28-06:00:00.000000] build\nerror: x\n")
    _status(alice, build_id, "FAILED")
    alice.post(
        "builds/new/", {**BUILD_ENV, "spack_version": SV, "full_hash": _hash(bulk, build_id)}
    )
    _phase(alice, build_id, "build", "SUCCESS", "==> [2026-11-29-06:00:00.000000] build\n")
    _status(alice, build_id, "SUCCESS")
    rates = database_summary(mon.db_url, "spec_name")
    assert rates[["builds", "failed", "succeeded"]].values.tolist() == [[1, 0, 1]]
    trends = database_summary(mon.db_url, "spec_name", freq="day")
    assert trends[["attempts", "failed", "succeeded"]].sum().tolist() == [2, 1, 1]
    data = MonitorData.from_database(mon.db_url)
    pd.testing.assert_frame_equal(rates, failure_rates(data, "spec_name"))
    pd.testing.assert_frame_equal(trends, failure_trends(data, "day", "spec_name"))


def test_two_servers_writing_runs_of_one_build_at_once_number_its_attempts_once():
    """Two servers on one PostgreSQL database (``spackmon serve --workers``) replaying runs of
    the same build at the same time: each run is one attempt, numbered once by its date, one
    latest (a build's attempts are opened under its row's lock)."""
    import json
    import threading

    from testlib import postgres_schema

    from spackmon_analysis.server import LocalMonitor

    doc = json.loads((SPECS / "tinyapp-spack-0.17.1.json").read_text())
    with postgres_schema() as url:
        with LocalMonitor(url, in_process=True) as one, LocalMonitor(url, in_process=True) as two:
            token = one.add_user("alice")
            sessions = []
            for mon in (one, two):
                s = mon.session()
                bearer = s.get(f"{mon.base_url}/auth/token/", auth=("alice", token)).json()
                s.headers["Authorization"] = "Bearer " + bearer["token"]
                sessions.append((mon.base_url, s))
            base, first = sessions[0]
            first.post(f"{base}/specs/new/", data=json.dumps({"spec": doc, "spack_version": SV}))
            spec = next(
                r
                for r in first.get(f"{one.url}/api/specs/", params={"limit": 100}).json()["results"]
                if r["name"] == "tinyapp"
            )
            days = list(range(1, 13))
            errors: list[str] = []

            def replay(index: int) -> None:
                base, s = sessions[index % 2]
                for day in days[index::4]:
                    when = f"2026-11-{day:02d}T06:00:00Z"
                    body = {**BUILD_ENV, "spack_version": SV, "full_hash": spec["full_hash"]}
                    r = s.post(f"{base}/builds/new/", data=json.dumps({**body, "run_time": when}))
                    build_id = r.json()["data"]["build"]["build_id"]
                    status = {"build_id": build_id, "status": "SUCCESS", "run_time": when}
                    r = s.post(f"{base}/builds/update/", data=json.dumps(status))
                    if r.status_code != 200:
                        errors.append(r.text)

            threads = [threading.Thread(target=replay, args=(i,)) for i in range(4)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(timeout=120)
            assert errors == []
            rows = first.get(f"{one.url}/api/attempts/", params={"limit": 100}).json()["results"]
    assert sorted(a["number"] for a in rows) == list(range(1, len(days) + 1))
    by_number = sorted(rows, key=lambda a: a["number"])
    assert [a["run_time"][:10] for a in by_number] == [f"2026-11-{d:02d}" for d in days]
    assert [a["latest"] for a in by_number] == [False] * (len(days) - 1) + [True]
