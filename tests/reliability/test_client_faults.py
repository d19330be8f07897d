"""Client faults: the server goes away in the middle of a replay.

The client raises a typed error (TransportError from spackmon_analysis.errors) whose message says
what was uploaded and what was not (per run, with file names), with the lists attached; running
the same replay again against the restarted server completes it, without duplicates, to exactly
the content of a clean replay.
"""

from __future__ import annotations

import pytest
import relhelp

from spackmon_analysis.client import SpackMonitorClient
from spackmon_analysis.errors import MonitorError, TransportError
from spackmon_analysis.server import LocalMonitor

STOP_AT_PHASE = 25
#: In batches: the server goes away during the third batch that carries phases.
STOP_AT_PHASE_BATCH = 3


@pytest.mark.parametrize("batch", [False, True])
def test_server_gone_mid_replay_then_replay_again(tmp_path, batch):
    reference = relhelp.reference_dump(tmp_path)
    url = f"sqlite:///{tmp_path / 'faults.sqlite'}"
    mon = LocalMonitor(url).start()
    token = mon.add_user("u")
    client = SpackMonitorClient(mon.url, username="u", token=token, progress=False, retries=0)
    send = client.session.send
    posted = {"phases": 0}

    def send_then_vanish(request, **kwargs):
        if request.url.endswith("/builds/phases/update/") or (
            request.url.endswith("/batch/") and b"builds/phases/update/" in request.body
        ):
            posted["phases"] += 1
            if posted["phases"] == (STOP_AT_PHASE_BATCH if batch else STOP_AT_PHASE):
                if mon.running:
                    mon.stop()  # the server goes away: this and every later request fails
        return send(request, **kwargs)

    client.session.send = send_then_vanish
    try:
        relhelp.replay(client, batch=batch)
    except MonitorError as exc:
        error = exc
    else:
        raise AssertionError("the replay did not notice the server going away")
    finally:
        client.close()
        mon.stop()

    assert isinstance(error, TransportError)
    text = str(error)
    assert "Replay interrupted" in text and "Uploaded (now on the server)" in text
    assert "Not uploaded" in text and "Run the same replay again" in text
    total = sum(1 for src in relhelp.REPLAY_SOURCES for f in src.rglob("*.json"))
    assert error.uploaded and error.not_uploaded
    assert len(error.uploaded) + len(error.not_uploaded) == total
    assert not set(error.uploaded) & set(error.not_uploaded)
    # every run is named, and a file named as not uploaded really is missing
    for run_dir in (p for src in relhelp.REPLAY_SOURCES for p in src.iterdir() if p.is_dir()):
        assert run_dir.name in text
    assert any("-phase-" in f for f in error.not_uploaded)
    uploaded_phases = sum("-phase-" in f for f in error.uploaded)
    at_failure = relhelp.canonical(url)
    # (>=: a request whose answer was lost in the shutdown may have been stored)
    assert len(at_failure["build_phases"]) >= uploaded_phases

    mon = LocalMonitor(url).start()  # the server is back, same database
    try:
        client = SpackMonitorClient(mon.url, username="u", token=token, progress=False)
        summary = relhelp.replay(client, batch=batch)
        client.close()
        got = relhelp.canonical(mon.store.read)
    finally:
        mon.stop()
    assert not summary.problems, summary.problems[:3]
    assert summary.counts["phases"]["present"] >= uploaded_phases
    relhelp.assert_no_duplicates(got)
    rows = relhelp.assert_same(got, reference, "replay after the server went away")
    relhelp.record(
        "client faults: files uploaded / not uploaded when the server went away",
        (len(error.uploaded), len(error.not_uploaded)),
    )
    relhelp.record("client faults: rows compared with a clean run", rows)
