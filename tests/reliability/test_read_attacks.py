"""Attacks on reads and stored data against ``spackmon serve`` as a subprocess (issue 14).

The figures (server peak RSS from ``/proc/<pid>/status``, requests sent, 5xx answers) are
recorded for docs/reliability.md's attack table; the same script was run against the code before
the fix for the "before" column.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import relhelp
import requests
from testlib import BUILD_ENV as ENV

SPECS = Path(__file__).resolve().parents[1] / "data" / "specs"
LONE = "\ud800"


class Served(relhelp.ServeProcess):
    """``spackmon serve`` on a free port with user alice; counts requests and 5xx answers."""

    def __init__(self, db_url: str, log: Path):
        self.api_token = relhelp.cli("users", "add", "alice", "--db", db_url).strip()
        super().__init__(db_url, log)
        self.sent = 0
        self.server_errors = 0
        self._lock = threading.Lock()
        r = requests.get(f"{self.url}/ms1/auth/token/", auth=("alice", self.api_token))
        self.bearer = r.json()["token"]

    def request(self, method: str, path: str, **kwargs) -> requests.Response:
        r = requests.request(method, self.url + path, timeout=120, **kwargs)
        with self._lock:
            self.sent += 1
            self.server_errors += r.status_code >= 500
        return r

    def post(self, path: str, body: object | None = None, data: bytes | None = None):
        payload = data if data is not None else json.dumps(body)
        headers = {"Authorization": f"Bearer {self.bearer}"}
        return self.request("POST", f"/ms1/{path}", data=payload, headers=headers)

    def rss_mib(self) -> float:
        return self.rss() / 1024 / 1024

    def peak_mib(self) -> float:
        return self.peak_rss() / 1024 / 1024

    def reset_peak(self) -> float:
        """Reset the process's peak RSS to its current RSS (Linux ``clear_refs``); that RSS."""
        Path(f"/proc/{self.proc.pid}/clear_refs").write_text("5")
        return self.rss_mib()


@pytest.fixture(params=relhelp.BACKENDS)
def served(request, tmp_path):
    with relhelp.database(request.param, tmp_path) as url:
        s = Served(url, tmp_path / "serve.log")
        s.backend = request.param
        try:
            yield s
        finally:
            s.stop()


def _build(s: Served) -> int:
    doc = json.loads((SPECS / "tinyapp-spack-0.17.1.json").read_text())
    r = s.post("specs/new/", {"spec": doc, "spack_version": "0.17.1"})
    root = r.json()["data"]["spec"]["full_hash"]
    r = s.post("builds/new/", {**ENV, "spack_version": "0.17.1", "full_hash": root})
    return r.json()["data"]["build"]["build_id"]


def _run_together(fns) -> None:
    threads = [threading.Thread(target=f) for f in fns]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


@pytest.mark.slow
def test_big_pages_and_streams_of_phase_outputs(served):
    """12 phases of 4 MB outputs; then 4 concurrent limit=100000 pages (as a client asks them,
    and asking for the outputs), and 4 concurrent /all/ streams with outputs."""
    s = served
    build_id = _build(s)
    line = "==> compiling part of the package, all is well\n"
    for i in range(12):
        r = s.post(
            "builds/phases/update/",
            {
                "build_id": build_id,
                "phase_name": f"p{i}",
                "status": "SUCCESS",
                "output": line * (4_000_000 // len(line)),
            },
        )
        assert r.status_code == 200, r.text
    s.sent = s.server_errors = 0
    sizes = []
    figures = []

    def page(params: dict) -> None:
        r = s.request("GET", "/api/buildphases/", params=params, stream=True)
        sizes.append(sum(len(c) for c in r.iter_content(1 << 16)))

    def stream() -> None:
        r = s.request("GET", "/api/buildphases/all/", params={"output": 1}, stream=True)
        sizes.append(sum(len(c) for c in r.iter_content(1 << 16)))

    for attack in (
        [lambda: page({"limit": 100000})] * 4,
        [lambda: page({"limit": 100000, "output": 1})] * 4,
        [stream] * 4,
    ):
        before = s.reset_peak()
        _run_together(attack)
        figures.append((round(before), round(s.peak_mib()), max(sizes)))
        sizes.clear()
    key = f"read attacks [{s.backend}] 12 x 4 MB outputs; 4 pages, 4 pages output=1, 4 /all/"
    relhelp.record(
        key + ": (RSS before, peak MiB, largest answer bytes) each; requests; 5xx",
        (figures, s.sent, s.server_errors),
    )
    assert s.server_errors == 0
    for before, peak, _size in figures:  # about one 8 MiB page per request, not the table
        assert peak - before < 160, figures


def test_stored_surrogates_nan_and_long_names(served):
    """Lone surrogates in every write (escaped and as UTF-8 bytes), NaN/Infinity, over-long
    names; then every data API page and stream. No 5xx, every read valid JSON."""
    s = served
    build_id = _build(s)
    doc = json.loads((SPECS / "tinyapp-spack-0.17.1.json").read_text())
    root = doc["spec"]["nodes"][0]["full_hash"]
    doc["spec"]["nodes"][0]["parameters"]["cflags"] = [LONE]
    answers = []
    bodies = [
        ("specs/new/", {"spec": doc, "spack_version": "0.17.1-x"}),
        ("builds/new/", {**ENV, "spack_version": "0.17.1", "full_hash": root, "tags": LONE}),
        ("builds/phases/update/", {"build_id": build_id, "phase_name": LONE, "status": "ERROR"}),
        (
            "builds/phases/update/",
            {"build_id": build_id, "phase_name": "b", "status": "ERROR", "output": LONE},
        ),
        (
            "analyze/builds/",
            {
                "build_id": build_id,
                "metadata": {
                    "config_args": LONE,
                    "environment_variables": {"A": LONE},
                    "an": [{"name": "n", "json_value": json.dumps({"k": LONE})}],
                },
            },
        ),
    ]
    for path, body in bodies:
        answers.append(s.post(path, body).status_code)
        raw = json.dumps(body, ensure_ascii=False).encode("utf-8", "surrogatepass")
        answers.append(s.post(path, data=raw).status_code)
    nan = '{"build_id": %d, "metadata": {"an": [{"name": "n", "json_value": "[NaN]"}]}}'
    answers.append(s.post("analyze/builds/", data=(nan % build_id).encode()).status_code)
    long_name = {"build_id": build_id, "phase_name": "x" * 300, "status": "SUCCESS"}
    answers.append(s.post("builds/phases/update/", long_name).status_code)
    broken = 0  # reads that failed: 5xx, a stream cut short, bytes that are not strict UTF-8
    routes = s.request("GET", "/api/").json()
    for route in routes:
        for path in (f"/api/{route}/?limit=1000", f"/api/{route}/all/"):
            try:
                r = s.request("GET", path)
                json.loads(r.content.decode("utf-8").split("\n")[0] or "{}")
                broken += r.status_code != 200
            except (requests.RequestException, ValueError):
                broken += 1
    relhelp.record(
        f"read attacks [{s.backend}] surrogate/NaN/long writes then every read: "
        "write answers, requests, 5xx, broken reads",
        (answers, s.sent, s.server_errors, broken),
    )
    assert s.server_errors == 0 and broken == 0
    assert answers[-2:] == [400, 400]


def test_conflicting_spec_and_header_tricks(served):
    """A conflicting spec upload; two Authorization headers, a padded bearer, a quoted Host;
    `users token --revoke-sessions` from another process."""
    s = served
    _build(s)
    doc = json.loads((SPECS / "tinyapp-spack-0.17.1.json").read_text())
    doc["spec"]["nodes"][0]["version"] = "9.9"
    conflict = s.post("specs/new/", {"spec": doc, "spack_version": "0.17.1"})
    versions = {
        row["version"]
        for row in s.request("GET", "/api/specs/", params={"name": "tinyapp"}).json()["results"]
    }
    body = json.dumps({"build_id": 1, "status": "SUCCESS"}).encode()
    request = (
        b"POST /ms1/builds/update/ HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Authorization: Bearer " + s.bearer.encode() + b"\r\nAuthorization: Bearer x\r\n"
        b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(body)
    ) + body
    with socket.create_connection(("127.0.0.1", s.port)) as sock:
        sock.sendall(request)
        two_auth = int(sock.recv(4096).split()[1])
    s.sent += 1
    padded = s.request(
        "POST",
        "/ms1/builds/update/",
        data=body,
        headers={"Authorization": f"Bearer {s.bearer}="},
    ).status_code
    host = s.request("POST", "/ms1/builds/update/", data=body, headers={"Host": 'a",service="evil'})
    subprocess.run(
        [sys.executable, "-m", "spackmon_analysis", "users", "token", "alice"]
        + ["--revoke-sessions", "--db", _db_of(s)],
        capture_output=True,
    )
    time.sleep(1.5)
    revoked = s.post("builds/update/", {"build_id": 1, "status": "SUCCESS"}).status_code
    relhelp.record(
        f"read attacks [{s.backend}] conflicting spec, 2 Authorization, padded bearer, "
        "quoted Host, revoked bearer: statuses, stored versions, Host reflected, 5xx",
        (
            (conflict.status_code, two_auth, padded, host.status_code, revoked),
            sorted(versions),
            "evil" in host.headers.get("www-authenticate", ""),
            s.server_errors,
        ),
    )
    assert (conflict.status_code, two_auth, padded, host.status_code, revoked) == (
        409,
        400,
        401,
        400,
        401,
    )
    assert versions == {"0.3"} and s.server_errors == 0


def _db_of(s: Served) -> str:
    cmd = s.proc.args
    return cmd[cmd.index("--db") + 1]
