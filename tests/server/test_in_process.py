"""LocalMonitor(in_process=True): the real application and database without a socket.

The server tests run on it, so it must answer exactly what the same application answers on a
port, through the client's real stack above the ``requests`` adapter.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest
import requests
import urllib3

from spackmon_analysis import LocalMonitor
from spackmon_analysis.errors import ConfigError, TransportError
from spackmon_analysis.server.routes import data as data_routes

SPECS = Path(__file__).resolve().parents[1] / "data" / "specs"
SAVE_LOCAL = Path(__file__).resolve().parents[1] / "data" / "save-local"
STAMP = re.compile(rb"\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)?")


def _exchanges(mon: LocalMonitor) -> list[tuple]:
    """The same requests against ``mon``: (status, content type, length, body) per answer,
    with the monitor's own address replaced by HOST and clock readings by TIME."""
    s = mon.session()
    answers = []

    def keep(r: requests.Response) -> None:
        body = STAMP.sub(b"TIME", r.content.replace(mon.url.split("//")[1].encode(), b"HOST"))
        answers.append(
            (
                r.status_code,
                r.headers.get("content-type"),
                r.headers.get("location"),
                r.headers.get("www-authenticate", "").replace(mon.url, "HOST"),
                body if "auth/token" not in r.url else r.status_code,
            )
        )

    keep(s.get(mon.base_url, allow_redirects=False))
    keep(s.get(mon.base_url + "/"))
    keep(s.post(mon.base_url + "/specs/new/", data="{}"))  # the 401 challenge
    keep(s.get(mon.base_url + "/auth/token/", auth=("alice", "0" * 40)))
    r = s.get(mon.base_url + "/auth/token/", auth=("alice", mon.tokens["alice"]))
    keep(r)
    s.headers["Authorization"] = "Bearer " + r.json()["token"]
    doc = json.loads((SPECS / "tinyapp-spack-0.17.1.json").read_text())
    keep(s.post(mon.base_url + "/specs/new/", json={"spec": doc, "spack_version": "0.17.1"}))
    keep(s.post(mon.base_url + "/specs/new/", json={"spec": doc, "spack_version": "0.17.1"}))
    keep(s.post(mon.base_url + "/builds/update/", data="not json"))
    keep(s.post(mon.base_url + "/specs/new/", data="x" * 60_000))  # over max_body_size
    keep(s.get(mon.url + "/api/specs/", params={"limit": 2}))
    keep(s.get(mon.url + "/api/specs/all/"))
    keep(s.get(mon.url + "/api/nosuch/"))
    keep(s.get(mon.url + "/api/specs/", params={"limit": "x"}))
    return answers


def test_in_process_answers_what_the_socket_server_answers():
    with LocalMonitor(max_body_size=50_000) as on_port:
        on_port.add_user("alice")
        want = _exchanges(on_port)
    with LocalMonitor(max_body_size=50_000, in_process=True) as here:
        here.add_user("alice")
        got = _exchanges(here)
    assert [a[0] for a in got] == [301, 200, 401, 403, 200, 201, 200, 400, 413, 200, 200, 404, 400]
    assert got == want


def test_in_process_monitor_handle():
    mon = LocalMonitor(in_process=True)
    assert "stopped" in repr(mon) and "in-process" in repr(mon)
    with pytest.raises(ConfigError, match="not started"):
        mon.session()
    with mon:
        assert mon.running and mon.port == 0  # nothing bound
        assert mon.url.startswith("http://localmonitor-") and mon.url.endswith(".invalid")
        assert mon.base_url == mon.url + "/ms1"
        assert "running" in repr(mon) and "(in-process)" in repr(mon)
        with LocalMonitor(in_process=True) as other:
            assert other.url != mon.url  # two monitors, two names: a session reaches each
        session = mon.session()
        assert session.get(mon.base_url + "/").json()["id"] == "spackmon"
    assert not mon.running
    with pytest.raises(requests.ConnectionError, match="stopped"):
        session.get(mon.base_url + "/")


def test_the_client_runs_its_own_stack_above_the_adapter():
    """Token flow, request counting, retries-free replay and the urllib3 body read of the real
    client, over the in-process adapter."""
    with LocalMonitor(in_process=True) as mon:
        mon.add_user("alice")
        client = mon.client("alice", progress=False)
        seen = []
        client.session.hooks["response"].append(lambda r, *a, **k: seen.append(r))
        summary = client.upload_local_save([str(SAVE_LOCAL / "v0.17.1-success-tinyapp")])
        assert summary.total_created > 0 and not summary.problems
        assert client.auth_count == 1 and client.request_count == len(seen) > 3
        assert all(isinstance(r.raw, urllib3.response.HTTPResponse) for r in seen)
        rows = list(client.builds())
        assert rows and {b["status"] for b in rows} == {"SUCCESS"}
        with mon.session().get(mon.url + "/api/buildphases/all/", stream=True) as r:
            lines = [json.loads(x) for x in r.iter_lines() if x]
        assert len(lines) == len(list(client.phases()))


def test_a_read_timeout_reaches_the_client_as_a_timeout(monkeypatch):
    with LocalMonitor(in_process=True) as mon:
        mon.add_user("alice")
        client = mon.client("alice", progress=False, timeout=0.5, retries=0, backoff=0)
        real = data_routes.read_page

        def slow(*args, **kwargs):
            time.sleep(1.5)
            return real(*args, **kwargs)

        monkeypatch.setattr(data_routes, "read_page", slow)
        with pytest.raises(TransportError, match="(?i)timed out|timeout|no answer"):
            list(client.builds())
        monkeypatch.setattr(data_routes, "read_page", real)
        assert list(client.builds()) == []  # the monitor goes on answering
