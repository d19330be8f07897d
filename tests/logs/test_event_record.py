"""One event record from the log parser to the frames (issue 11): a ``LogEvent`` goes through
JSON and the server's stored rows unchanged, and its fingerprint is computed once."""

from __future__ import annotations

import json

import pytest

from spackmon_analysis import logs
from spackmon_analysis.failures import error_fingerprints, failures
from spackmon_analysis.frames import MonitorData
from spackmon_analysis.loaders.server import rows_frames
from spackmon_analysis.server.ingest.phases import _event_rows

LOG = """\
==> tinybroken: Executing phase: 'build'
==> [2026-11-28-06:01:29.875639] 'make' '-j2'
broken.c: In function 'tinybroken_value':
/tmp/spack-stage/x/broken.c:4:3: error: expected ',' or ';' before 'return'
    4 |   return undefined_symbol_xyz + x;
make: *** [Makefile:6: libtinybroken.so] Error 1
"""


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every fingerprint computed from here on (logs.fingerprint is the one place)."""
    seen: list[str] = []
    real = logs.fingerprint

    def counting(text: str) -> str:
        seen.append(text)
        return real(text)

    monkeypatch.setattr(logs, "fingerprint", counting)
    return seen


def test_an_event_keeps_its_fingerprint_through_json(calls: list[str]) -> None:
    events = logs.parse_log(LOG)
    assert len(calls) == len(events) == 2  # the parser computes each once
    for event in events:
        back = logs.LogEvent.from_dict(json.loads(json.dumps(event.to_dict())))
        assert back == event
    assert len(calls) == 2  # carried, not recomputed
    with pytest.raises(logs.LogParseError, match="kind and a text"):
        logs.LogEvent.from_dict({"kind": "error", "text": None})


def test_the_server_stores_the_record_and_a_reader_gets_it_back(calls: list[str]) -> None:
    """The server's ingest stores ``logs.stored_event`` of each record (all but the
    fingerprint); the rows read back become the same records, each fingerprint computed
    once when read, and no view computes another."""
    events = logs.parse_log(LOG)
    stored = _event_rows(LOG, 1, 7)
    assert [
        {k: r[k] for k in logs.stored_event(e)} for r, e in zip(stored, events, strict=True)
    ] == [logs.stored_event(e) for e in events]
    served = [{**row, "id": i, "build": 1, "phase": 7} for i, row in enumerate(stored, 1)]
    rows = {
        "specs": [{"full_hash": "h" * 32, "name": "tinybroken", "version": "0.9"}],
        "dependencies": [],
        "builds": [{"id": 1, "full_hash": "h" * 32, "status": "FAILED", "created_at": None}],
        "buildphases": [{"id": 7, "build": 1, "name": "build", "status": "ERROR", "output": LOG}],
        "builderrors": [r for r in served if r["kind"] == "error"],
        "buildwarnings": [r for r in served if r["kind"] == "warning"],
    }
    calls.clear()
    data = MonitorData.from_frames(
        rows_frames(rows, source="server", label="rows", keep_output=True)
    )
    assert len(calls) == len(events)  # once per stored row, where it becomes a record
    assert list(data.events["fingerprint"]) == [e.fingerprint for e in events]
    found = failures(data)
    assert found["fingerprint"].iloc[0] == events[0].fingerprint
    error_fingerprints(data)
    data.events.spack.top()
    assert len(calls) == len(events)  # the views compute none
