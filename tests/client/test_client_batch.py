"""The client's use of the batch extension: only when advertised, the same outcome as plain ms1.

A replay through batches must leave the same rows and give the same summary (counts, build
ids, problems with their messages, changes) as the replay one request at a time; against a
server without the extension (or one whose batch route has gone) the client speaks plain ms1.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from client_testlib import FAILURE_RUN, SAVE_LOCAL, SUCCESS_RUN, table_rows

from spackmon_analysis import synth
from spackmon_analysis.client import SpackMonitorClient
from spackmon_analysis.client.batch import BatchLimits, advertised_batch
from spackmon_analysis.localmonitor import LocalMonitor


def _runs(tmp_path: Path) -> list[Path]:
    """The real 0.17.1 runs, a generated run with failures, and a run with a bad file and a
    build the server refuses (its spec is in no document)."""
    generated = synth.generate_save_local(
        tmp_path / "generated" / "2026-11-30-01-00-00-1795900000",
        40,
        phases_per_build=3,
        seed=3,
        failure_rate=0.15,
    )
    broken = tmp_path / "broken" / "2026-12-01-01-00-00-1795986400"
    shutil.copytree(SUCCESS_RUN, broken)
    (broken / "build-4e077fd0e6997b2f609405ab264e6aae-phase-install.json").write_text("{oops")
    meta = broken / "build-metadata-faaa403a977ea2c06ac9304cc1928c4f.json"
    doc = json.loads(meta.read_text())
    doc["full_hash"] = "x" * 32  # no spec holds it: builds/new answers 400, its files skipped
    meta.write_text(json.dumps(doc))
    return [SUCCESS_RUN, FAILURE_RUN, generated, broken]


def _replay_twice(
    mon: LocalMonitor, runs: list[Path], change: Path | None = None, **kwargs
) -> tuple[list[str], int, int]:
    """Replay ``runs`` twice (``change``: a status file in a copied run set to FAILED in
    between) -> the summaries' text with the server's address and ids taken out, and the
    writes sent one by one and in batches."""
    mon.add_user("alice")
    client = mon.client("alice")
    sent = {"batch": 0, "single": 0}
    send = client.session.send

    def counting(request, **kw):
        if request.method == "POST":
            sent["batch" if request.url.endswith("/batch/") else "single"] += 1
        return send(request, **kw)

    client.session.send = counting
    first = client.upload_local_save(runs, **kwargs)
    original = change.read_text() if change else ""
    if change:
        change.write_text(json.dumps({**json.loads(original), "status": "FAILED"}))
    try:
        second = client.upload_local_save(runs, **kwargs)
    finally:
        if change:
            change.write_text(original)
    texts = [
        re.sub(r"\(build \d+\)", "(build N)", repr(s).replace(mon.url, "<server>"))
        for s in (first, second)
    ]
    for s in (first, second):  # server ids aside (the plain replay numbers builds in parallel)
        texts.append(repr(sorted(s.build_ids)) + repr(len(set(s.build_ids.values()))))
        texts.append(repr([(c.name, c.item, c.before, c.after, c.run) for c in s.changes]))
    return texts, sent["single"], sent["batch"]


def test_a_replay_in_batches_equals_the_replay_one_request_at_a_time(tmp_path):
    runs = _runs(tmp_path)
    change = runs[-1] / "build-4e077fd0e6997b2f609405ab264e6aae-status.json"
    with LocalMonitor(in_process=True) as plain:
        expected, singles, batches = _replay_twice(plain, runs, change, batch=False)
        expected_rows = table_rows(plain)
    assert batches == 0 and singles > 200
    with LocalMonitor(in_process=True) as batched:
        got, singles, batches = _replay_twice(batched, runs, change)
        got_rows = table_rows(batched)
    assert singles == 0 and 0 < batches < 40
    assert got == expected  # the same summaries: counts, problems and messages, ids, changes
    assert got_rows == expected_rows  # the same rows
    assert "problems (6)" in expected[0]  # the bad file, the refused build and its 4 files
    assert "FAILED -> SUCCESS" in expected[1] or "SUCCESS -> FAILED" in expected[1]


def test_a_server_without_the_extension_gets_plain_ms1(tmp_path):
    runs = [SUCCESS_RUN, FAILURE_RUN]
    with LocalMonitor(in_process=True, batch_max_items=0) as plain:
        got, singles, batches = _replay_twice(plain, runs)
    assert batches == 0 and singles > 0
    with LocalMonitor(in_process=True) as batched:
        expected, _singles, _batches = _replay_twice(batched, runs)
    assert got == expected


def test_a_batch_route_that_is_gone_falls_back_to_single_requests(tmp_path):
    """The service info advertises the extension, but the route answers 404 (e.g. a proxy in
    front forwards only the ms1 paths): the writes go one by one, with the same outcome."""
    runs = [SUCCESS_RUN, FAILURE_RUN]
    with LocalMonitor(in_process=True, batch_max_items=0) as mon:
        mon.add_user("alice")
        client = mon.client("alice")
        client._batch, client._batch_checked = BatchLimits("batch/", 100, 1 << 20), True
        summary = client.upload_local_save(runs)
        assert client._batch is not None  # asked once; the sender turned itself off
    with LocalMonitor(in_process=True) as ref:
        ref.add_user("alice")
        expected = ref.client("alice").upload_local_save(runs)
    assert repr(summary).replace(mon.url, "") == repr(expected).replace(ref.url, "")


def test_the_client_keeps_to_the_advertised_limits(tmp_path):
    """At most max_items per batch and max_bytes per body; a write too big for any batch
    goes alone as a plain request (the single-request limit is the server's larger one)."""
    run = synth.generate_save_local(tmp_path / "run", 12, phases_per_build=2, seed=5)
    big = next(run.glob("build-*-phase-*.json"))
    doc = json.loads(big.read_text())
    doc["output"] = "x" * 30_000
    big.write_text(json.dumps(doc))
    with LocalMonitor(in_process=True, batch_max_items=5, batch_max_bytes=20_000) as mon:
        mon.add_user("alice")
        client = mon.client("alice")
        bodies = []
        send = client.session.send

        def recording(request, **kw):
            if request.method == "POST":
                bodies.append((request.url.rsplit("/ms1/", 1)[1], request.body))
            return send(request, **kw)

        client.session.send = recording
        summary = client.upload_local_save(run)
    assert not summary.problems
    assert summary.created["phases"] == 24 and summary.created["builds"] == 12
    batches = [json.loads(body)["items"] for path, body in bodies if path == "batch/"]
    assert all(len(items) <= 5 for items in batches)
    assert all(len(body) <= 20_000 for path, body in bodies if path == "batch/")
    assert [path for path, _body in bodies if path != "batch/"] == ["builds/phases/update/"]


@pytest.mark.parametrize(
    ("info", "expected"),
    [
        ({"extensions": {"batch": {"path": "batch/", "max_items": 5, "max_bytes": 9}}},
         BatchLimits("batch/", 5, 9)),
        ({"id": "spackmon", "status": "running"}, None),  # the reference server's service info
        ({"extensions": {"batch": {"path": "batch/", "max_items": 0, "max_bytes": 9}}}, None),
        ({"extensions": {"batch": {"path": "https://elsewhere/x/", "max_items": 5,
                                   "max_bytes": 9}}}, None),
        ({"extensions": {"batch": {"max_items": True, "max_bytes": 9}}}, None),
        ("not json", None),
    ],
)  # fmt: skip
def test_only_a_well_formed_advertisement_turns_batches_on(info, expected):
    assert advertised_batch(info) == expected


def test_spackmon_replay_and_its_no_batch_option(tmp_path, capsys):
    """``spackmon replay`` against a real socket, then again with ``--no-batch``: the second
    finds everything present, as a plain replay after a batched one must."""
    from spackmon_analysis.cli import main

    with LocalMonitor() as mon:
        token = mon.add_user("alice")
        args = ["replay", str(SAVE_LOCAL), "--host", mon.url, "--user", "alice", "--token", token]
        assert main(args) == 0
        first = capsys.readouterr().out
        assert main([*args, "--no-batch"]) == 0
        second = capsys.readouterr().out
        with SpackMonitorClient(mon.url, username="alice", token=token, progress=False) as c:
            assert len(list(c.builds())) == 5
    assert "problems: none" in first and "problems: none" in second
    assert "builds           5        0        0        0" in first
    assert "builds           0        0        5        0" in second
    table = re.findall(r"^  (specs|builds|phases|statuses) +(\d+) +(\d+) +(\d+)", second, re.M)
    assert len(table) == 4 and all(c == u == "0" and int(p) > 0 for _k, c, u, p in table)
