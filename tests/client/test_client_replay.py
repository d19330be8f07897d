"""Save-local replay of the real Spack 0.17.1 runs to the real embedded monitor."""

from __future__ import annotations

import json
import time

import pytest
from client_testlib import (
    FAILURE_RUN,
    LOCAL_IDS,
    SAVE_LOCAL,
    SUCCESS_RUN,
    copy_run,
    rename_to_full_hash_style,
)

from spackmon_analysis.client import ReplaySummary, SpackMonitorClient
from spackmon_analysis.errors import AuthError, SaveLocalError, TransportError


def make_client(mon, **kwargs):
    kwargs.setdefault("progress", False)
    return SpackMonitorClient(
        host=mon.url, username="alice", token=mon.test_token, backoff=0, **kwargs
    )


def server_builds(client):
    """spec name -> build row, for every build on the server."""
    rows = list(client.builds())
    by_name = {row["spec_name"]: row for row in rows}
    assert len(by_name) == len(rows)
    return by_name


def server_phases(client, build_id):
    return {row["name"]: row["status"] for row in client.phases(build=build_id, output=0)}


def test_replay_of_the_real_runs_maps_every_file_to_its_own_build(monitor):
    client = make_client(monitor)
    summary = client.upload_local_save(SAVE_LOCAL)
    assert isinstance(summary, ReplaySummary)
    assert summary.runs == ["v0.17.1-failure-tinybrokenapp", "v0.17.1-success-tinyapp"]
    assert summary.created == {"specs": 2, "builds": 5, "phases": 12, "statuses": 4}
    assert summary.skipped == {"specs": 0, "builds": 0, "phases": 0, "statuses": 0}
    assert summary.problems == []
    assert set(summary.build_ids) == set(LOCAL_IDS)
    assert len(set(summary.build_ids.values())) == 5

    builds = server_builds(client)
    for local_id, name in LOCAL_IDS.items():
        assert builds[name]["id"] == summary.build_ids[local_id]
    # the failure run: the package that really failed has the ERROR build phase and no status
    broken = builds["tinybroken"]
    assert server_phases(client, broken["id"]) == {"edit": "SUCCESS", "build": "ERROR"}
    assert broken["status"] == "NOTRUN"
    assert set(broken["tags"]) == {"heldout", "failure"}
    # its dependent never built: FAILED and no phases
    app = builds["tinybrokenapp"]
    assert app["status"] == "FAILED"
    assert server_phases(client, app["id"]) == {}
    # the success run: every build has its own phases
    assert server_phases(client, builds["tinybase"]["id"]) == dict.fromkeys(
        ["autoreconf", "configure", "build", "install"], "SUCCESS"
    )
    assert server_phases(client, builds["tinyutil"]["id"]) == dict.fromkeys(
        ["edit", "build", "install"], "SUCCESS"
    )
    assert server_phases(client, builds["tinyapp"]["id"]) == dict.fromkeys(
        ["edit", "build", "install"], "SUCCESS"
    )
    for name in ("tinybase", "tinyutil", "tinyapp"):
        assert builds[name]["status"] == "SUCCESS"
    output = client.phases(build=broken["id"], name="build", output=1)[0]["output"]
    assert "error: expected ',' or ';' before 'return'" in output

    # a second replay creates nothing new
    again = client.upload_local_save(SAVE_LOCAL)
    assert again.total_created == 0
    assert again.present == {"specs": 2, "builds": 5, "phases": 12, "statuses": 4}
    assert again.build_ids == summary.build_ids
    assert len(client.builds()) == 5
    assert len(client.phases()) == 12

    text = repr(again)
    assert "Replay of 2 runs: " in text and "problems: none" in text
    assert "<table>" in again._repr_html_()


def test_replay_of_the_old_full_hash_naming(monitor, tmp_path):
    run = copy_run(SUCCESS_RUN, tmp_path / "old")
    by_hash = rename_to_full_hash_style(run)
    client = make_client(monitor)
    summary = client.upload_local_save(run)
    assert summary.created == {"specs": 1, "builds": 3, "phases": 10, "statuses": 3}
    assert set(summary.build_ids) == set(by_hash)
    builds = server_builds(client)
    assert builds["tinyapp"]["id"] == summary.build_ids["sev5emughopmaymacihawdtjlkew2s5t"]
    assert server_phases(client, builds["tinyapp"]["id"]) == dict.fromkeys(
        ["edit", "build", "install"], "SUCCESS"
    )


def test_a_bad_file_is_named_and_skipped_the_rest_uploads(monitor, tmp_path):
    run = copy_run(FAILURE_RUN, tmp_path / "2026-11-28-06-01-29-1795759289")
    bad = run / "build-1ab48b1b401db81a0b850246f96a0136-phase-build.json"
    bad.write_text("{ this is not json")
    client = make_client(monitor)
    summary = client.upload_local_save(tmp_path)
    assert summary.skipped["phases"] == 1
    assert summary.created == {"specs": 1, "builds": 2, "phases": 1, "statuses": 1}
    [(where, message)] = summary.problems
    assert where == str(bad) and "not valid JSON" in message
    assert str(bad) in repr(summary)
    builds = server_builds(client)
    assert server_phases(client, builds["tinybroken"]["id"]) == {"edit": "SUCCESS"}


def test_a_build_the_server_rejects_skips_its_files_by_name(monitor, tmp_path):
    run = copy_run(FAILURE_RUN, tmp_path / "run")
    meta = run / "build-metadata-1ab48b1b401db81a0b850246f96a0136.json"
    doc = json.loads(meta.read_text())
    doc["full_hash"] = "z" * 32  # a spec that is in no uploaded document
    meta.write_text(json.dumps(doc))
    summary = make_client(monitor).upload_local_save(run)
    problems = dict(summary.problems)
    assert "does not exist" in problems[str(meta)]
    assert summary.skipped == {"specs": 0, "builds": 1, "phases": 2, "statuses": 0}
    assert summary.created["builds"] == 1 and summary.created["statuses"] == 1


def test_many_runs_replay_in_timestamp_order(monitor, tmp_path):
    first = copy_run(SUCCESS_RUN, tmp_path / "2026-11-28-06-00-00-1795759200")
    second = copy_run(SUCCESS_RUN, tmp_path / "2026-11-28-07-00-00-1795762800")
    # the earlier run says tinyapp failed; the later one (a rebuild) says it succeeded
    (first / "build-10c3368f983fe98c9370d38cc7b5c563-status.json").write_text(
        json.dumps({"build_id": "10c3368f983fe98c9370d38cc7b5c563", "status": "FAILED"})
    )
    client = make_client(monitor)
    summary = client.upload_local_save([second, first])  # given out of order
    assert summary.runs == [first.name, second.name]
    # each run is its own attempt of the build (nothing overwritten); the build shows the later
    assert summary.counts["statuses"]["created"] == 6 and summary.changes == []
    assert server_builds(client)["tinyapp"]["status"] == "SUCCESS"
    build_id = server_builds(client)["tinyapp"]["id"]
    attempts = sorted(client.pull("attempts", build=build_id), key=lambda a: a["number"])
    assert [a["status"] for a in attempts] == ["FAILED", "SUCCESS"]


@pytest.mark.parametrize("batch", [False, True])
def test_bearer_expiring_mid_replay_is_renewed(tmp_path, batch):
    from spackmon_analysis.server import LocalMonitor

    with LocalMonitor(token_lifetime=1) as mon:
        mon.test_token = mon.add_user("alice")
        client = make_client(mon)
        slept = []
        # one request at a time: after the first builds/new; in batches: after the specs' batch
        after = "/batch/" if batch else "/builds/new/"

        def pause_after_first_build(response, *args, **kwargs):
            answered = response.status_code in (200, 201)  # not the 401 before the token
            if response.request.url.endswith(after) and answered and not slept:
                slept.append(True)
                time.sleep(2.1)  # the 1-second bearer expires here, mid-replay

        client.session.hooks["response"].append(pause_after_first_build)
        summary = client.upload_local_save(SUCCESS_RUN, batch=batch)
        assert slept
        # renewed after the pause; once more if the rest of the replay outlasted the
        # 1-second bearer too (a busy machine, the other test worker): never a 401 problem
        assert client.auth_count >= 2
        assert summary.created == {"specs": 1, "builds": 3, "phases": 10, "statuses": 3}
        assert summary.problems == []


def test_replay_needs_credentials_and_a_server(monitor, monkeypatch):
    monkeypatch.delenv("SPACKMON_USER", raising=False)
    monkeypatch.delenv("SPACKMON_TOKEN", raising=False)
    anonymous = SpackMonitorClient(host=monitor.url, progress=False)
    with pytest.raises(AuthError, match="SPACKMON_USER and SPACKMON_TOKEN") as info:
        anonymous.upload_local_save(SUCCESS_RUN)
    assert info.value.summary.created["specs"] == 0

    from client_testlib import free_port

    down = SpackMonitorClient(
        host=f"http://127.0.0.1:{free_port()}", retries=1, backoff=0, progress=False
    )
    # the first request of a replay asks the service info (is there a batch extension?)
    with pytest.raises(TransportError, match="/ms1/") as down_info:
        down.upload_local_save(SUCCESS_RUN)
    assert "Replay stopped before anything was uploaded" in str(down_info.value)
    with pytest.raises(TransportError, match="/ms1/specs/new/"):
        down.upload_local_save(SUCCESS_RUN, batch=False)
    with pytest.raises(SaveLocalError):
        down.upload_local_save(SUCCESS_RUN / "build-metadata-missing.json")


@pytest.mark.parametrize("batch", [False, True])
def test_each_build_goes_in_order_after_its_own_spec(monitor, tmp_path, batch, monkeypatch):
    """Builds overlap later spec uploads and each other, but per build the requests go
    builds/new, its phases in file order, then its status; no builds/new is sent before
    a spec document holding its hash was answered, nor before the first builds/new of
    its build environment was answered. In batches (groups of 7 builds here), the same
    order per build, item by item."""
    import threading

    from spackmon_analysis.client import batchreplay

    monkeypatch.setattr(batchreplay._BatchReplayer, "GROUP", 7)
    from spackmon_analysis import synth
    from spackmon_analysis.loaders.savelocal import read_save_local
    from spackmon_analysis.spec import load_spec

    run_dir = tmp_path / "monitor"
    synth.generate_save_local(run_dir, 60, phases_per_build=3, seed=1)
    [run] = read_save_local(run_dir)
    envs = {
        json.dumps({k: v for k, v in b.items() if k != "full_hash"}, sort_keys=True)
        for b in run.build_documents.values()
    }
    assert len(envs) == 1  # one build environment in the generated run
    client = make_client(monitor)
    send = client.session.send
    log, lock = [], threading.Lock()

    batches = []

    def recording_send(request, **kwargs):
        body = json.loads(request.body) if request.body else {}
        path = request.url.split("/ms1/", 1)[-1]
        # a batch: each of its items in order, as if sent one by one within it
        items = [(i["path"], json.loads(i["body"])) for i in body.get("items", [])]
        with lock:
            log.extend(("start", p, b) for p, b in items or [(path, body)])
        response = send(request, **kwargs)
        if path == "batch/" and response.status_code == 200:  # (not the 401 before the token)
            batches.append([p for p, _b in items])
        with lock:
            log.extend(("end", p, b) for p, b in items or [(path, body)])
        return response

    client.session.send = recording_send
    summary = client.upload_local_save(run_dir, batch=batch)
    assert bool(batches) == batch
    assert not summary.problems
    assert summary.created == {"specs": len(run.specs), "builds": 60, "phases": 180, "statuses": 60}

    id_to_key = {v: k for k, v in summary.build_ids.items()}
    key_of_hash = {b["full_hash"]: k for k, b in run.build_documents.items()}
    on_server: set[str] = set()  # full hashes of the spec documents answered so far
    per_build: dict[str, list[tuple[str, str]]] = {}
    for event, path, body in log:
        if path == "specs/new/" and event == "end":
            on_server.update(node.full_hash for node in load_spec(body["spec"]))
        if event != "start":
            continue
        if path == "builds/new/":
            assert body["full_hash"] in on_server, "builds/new before a spec holding it"
            per_build.setdefault(key_of_hash[body["full_hash"]], []).append(("new", ""))
        elif path == "builds/phases/update/":
            key = id_to_key[body["build_id"]]
            per_build.setdefault(key, []).append(("phase", body["phase_name"]))
        elif path == "builds/update/":
            per_build.setdefault(id_to_key[body["build_id"]], []).append(("status", ""))
    assert len(per_build) == 60
    for key, sequence in per_build.items():
        phases = [p.name for p in run.phases_of(key)]
        assert sequence == [("new", ""), *[("phase", n) for n in phases], ("status", "")], key

    starts = [i for i, (e, p, _b) in enumerate(log) if e == "start" and p == "builds/new/"]
    first_end = next(i for i, (e, p, _b) in enumerate(log) if e == "end" and p == "builds/new/")
    if batch:  # the first group's builds/new batch went alone, then groups of 7 builds
        assert starts[6] < first_end < starts[7]
        # groups run side by side, so their batches end in any order: count them, not order
        assert sorted(len(b) for b in batches if b[0] == "builds/new/") == [4] + [7] * 8
        assert len(batches) == 1 + 9 + 9  # specs, then per group: builds, phases + statuses
    else:
        assert starts[0] < first_end < starts[1]  # the environment's first build went alone
        last_spec = max(i for i, (_e, p, _b) in enumerate(log) if p == "specs/new/")
        assert starts[0] < last_spec  # builds overlapped the later spec uploads

    again = client.upload_local_save(run_dir, batch=batch)  # still idempotent
    assert again.total_created == 0 and not again.problems
