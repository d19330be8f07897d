"""Body size limits: 413 before an oversized body is read; a 50 MB phase output is stored whole.

The oversized requests are written on a raw socket so the test controls exactly how much of the
body is sent: the server must answer 413 while the client is still (or never) sending the rest,
which it can only do without reading the body into memory.
"""

from __future__ import annotations

import hashlib
import json
import socket
import subprocess
import sys
import time

import pytest
import relhelp
import requests

from spackmon_analysis.server import LocalMonitor
from spackmon_analysis.server.queries import read_rows

LIMIT = 1024 * 1024  # 1 MiB for the oversized-body tests


def _bearer(mon) -> str:
    r = requests.get(f"{mon.base_url}/auth/token/", auth=("u", mon.tokens["u"]))
    return r.json()["token"]


def _read_response(sock: socket.socket) -> tuple[int, bytes]:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = next(
        (
            int(h.split(b":")[1])
            for h in head.split(b"\r\n")
            if h.lower().startswith(b"content-length")
        ),
        0,
    )
    while len(rest) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        rest += chunk
    return status, rest


@pytest.fixture(params=[True, False], ids=["fast-path", "fastapi-route"])
def small(request):
    with LocalMonitor(max_body_size=LIMIT, fast_path=request.param) as m:
        m.add_user("u")
        m.bearer = _bearer(m)
        yield m


def _open(mon) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", mon.port), timeout=10)
    return sock


def test_declared_length_over_limit_refused_before_body(small):
    """Content-Length of 10 GB and no body at all: 413 at once."""
    sock = _open(small)
    sock.sendall(
        b"POST /ms1/builds/phases/update/ HTTP/1.1\r\nHost: x\r\n"
        + f"Authorization: Bearer {small.bearer}\r\n".encode()
        + b"Content-Length: 10000000000\r\n\r\n"
    )
    t0 = time.monotonic()
    status, body = _read_response(sock)
    sock.close()
    assert status == 413 and b"exceeds the limit" in body
    assert time.monotonic() - t0 < 5
    relhelp.record("limits: declared 10 GB body answered 413 without reading it", True)


def test_chunked_body_counted_while_streaming(small):
    """A chunked body (no Content-Length) that passes the limit gets 413 while the client is
    still sending: the server never waits for (or holds) the whole body."""
    sock = _open(small)
    sock.sendall(
        b"POST /ms1/builds/phases/update/ HTTP/1.1\r\nHost: x\r\n"
        + f"Authorization: Bearer {small.bearer}\r\n".encode()
        + b"Transfer-Encoding: chunked\r\n\r\n"
    )
    chunk = b"x" * 65536
    sent = 0
    try:
        while sent <= LIMIT + len(chunk):  # a little past the limit, then stop (no last chunk)
            sock.sendall(b"%x\r\n" % len(chunk) + chunk + b"\r\n")
            sent += len(chunk)
    except OSError:
        pass  # the server may already have answered and closed
    status, body = _read_response(sock)
    sock.close()
    assert status == 413 and b"exceeds the limit" in body
    relhelp.record("limits: chunked body refused after (bytes sent)", sent)


def test_under_the_limit_still_accepted(small):
    r = requests.post(
        f"{small.base_url}/builds/update/",
        data=iter([b'{"build_id": 1', b', "status": "SUCCESS"}']),  # chunked, small
        headers={"Authorization": f"Bearer {small.bearer}"},
    )
    assert r.status_code == 404  # read whole, parsed, judged (no such build)


def _big_log(size: int) -> str:
    lines = []
    n = 0
    i = 0
    while n < size:
        if i % 5000 == 0:
            line = f"src/file{i}.c:{i}:3: error: something failed #{i} \u00e9\u2603\x1b[0m"
        elif i % 777 == 0:
            line = f"src/file{i}.c:{i}:1: warning: unused variable 'v{i}'"
        else:
            line = f"[{i:8d}] gcc -O2 -c src/file{i % 400}.c -o build/file{i % 400}.o -Iinclude"
        lines.append(line)
        n += len(line) + 1
        i += 1
    return ("\n".join(lines) + "\n")[:size]


@pytest.mark.slow
@pytest.mark.parametrize("backend", relhelp.BACKENDS)
def test_50mb_phase_output_stored_whole(backend, tmp_path):
    """At the default limit (100 MiB) a 50 MB phase output is accepted and stored byte for byte."""
    output = _big_log(50 * 1000 * 1000)
    digest = hashlib.sha256(output.encode()).hexdigest()
    with relhelp.database(backend, tmp_path) as url, LocalMonitor(url) as m:
        m.add_user("u")
        s = requests.Session()
        s.headers["Authorization"] = "Bearer " + _bearer(m)
        doc = json.loads((relhelp.TESTS / "data/specs/zlib-spack-0.17.1.json").read_text())
        r = s.post(f"{m.base_url}/specs/new/", json={"spec": doc, "spack_version": "0.17.1"})
        env = dict(host_os="d", platform="linux", host_target="x", hostname="h", kernel_version="k")
        r = s.post(
            f"{m.base_url}/builds/new/",
            json={
                **env,
                "spack_version": "0.17.1",
                "full_hash": r.json()["data"]["spec"]["full_hash"],
            },
        )
        build_id = r.json()["data"]["build"]["build_id"]
        body = json.dumps(
            {"build_id": build_id, "phase_name": "build", "status": "ERROR", "output": output}
        ).encode()
        t0 = time.monotonic()
        r = s.post(f"{m.base_url}/builds/phases/update/", data=body)
        elapsed = time.monotonic() - t0
        assert r.status_code == 200, r.text[:300]
        (phase,) = read_rows(m.store.read, "buildphases", build=build_id)
        assert phase["output_size"] == len(output)
        assert hashlib.sha256(phase["output"].encode()).hexdigest() == digest
        errors = list(read_rows(m.store.read, "builderrors", build=build_id))
        assert len(errors) == output.count(": error:")
    relhelp.record(
        f"limits [{backend}] 50 MB phase output: body bytes, seconds to store",
        (len(body), round(elapsed, 1)),
    )


def test_serve_max_body_mb_option(tmp_path):
    """``spackmon serve --max-body-mb`` sets the limit."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    db = f"sqlite:///{tmp_path / 'x.sqlite'}"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "spackmon_analysis",
            "serve",
            "--db",
            db,
            "--port",
            str(port),
            "--max-body-mb",
            "0.01",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                requests.get(f"http://127.0.0.1:{port}/ms1/", timeout=1)
                break
            except requests.RequestException:
                assert time.monotonic() < deadline and proc.poll() is None
                time.sleep(0.05)
        url = f"http://127.0.0.1:{port}/ms1/specs/new/"
        assert requests.post(url, data="x" * 20000).status_code == 413
        assert requests.post(url, data="{}").status_code == 401  # under the limit: auth
    finally:
        proc.terminate()
        proc.wait(timeout=10)
