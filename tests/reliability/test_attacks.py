"""Nothing unauthenticated costs much; slow or oversized requests are cut off (issue 14).

Each attack runs against a real ``spackmon serve`` process on a loopback port (the transport
limits live below the application, in the protocol uvicorn runs), with bounded loops. The
figures (requests sent, memory, 5xx count) go to the "reliability figures" block.
"""

from __future__ import annotations

import socket
import time

import pytest
import relhelp
import requests

from spackmon_analysis.server import LocalMonitor

MIB = 1024 * 1024
WRITE = "/ms1/builds/phases/update/"


def _connect(port: int, timeout: float = 10.0) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def _answer(sock: socket.socket, limit: float = 10.0) -> bytes:
    """Everything the server sends until it closes or ``limit`` seconds pass."""
    sock.settimeout(limit)
    data = b""
    deadline = time.monotonic() + limit
    try:
        while time.monotonic() < deadline:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
            if b"\r\n\r\n" in data and b"connection: close" not in data.lower():
                head, _, body = data.partition(b"\r\n\r\n")
                length = [
                    int(line.split(b":")[1])
                    for line in head.lower().split(b"\r\n")
                    if line.startswith(b"content-length:")
                ]
                if length and len(body) >= length[0]:
                    break
    except (TimeoutError, ConnectionResetError):
        pass
    return data


@pytest.fixture
def serve(tmp_path):
    """``serve(*args, nofile=None)`` -> a running ServeProcess over a fresh SQLite file."""
    started = []

    def start(*args: str, nofile: int | None = None) -> relhelp.ServeProcess:
        url = f"sqlite:///{tmp_path / f'db{len(started)}.sqlite'}"
        server = relhelp.ServeProcess(
            url, tmp_path / f"serve{len(started)}.log", *args, nofile=nofile
        )
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


# ---------------------------------------------------------------------------------------------
# the bearer before the body


@pytest.mark.parametrize("fast_path", [True, False], ids=["fast-path", "fastapi-route"])
def test_bearer_checked_before_the_body(fast_path):
    """A write without a valid bearer is answered 401 on its headers: a large body is never
    read (the connection is closed), a small one is read and thrown away (keep-alive)."""
    with LocalMonitor(fast_path=fast_path) as mon:
        for auth in (b"", b"Authorization: Bearer junk\r\n"):
            sock = _connect(mon.port)
            sock.sendall(
                b"POST "
                + WRITE.encode()
                + b" HTTP/1.1\r\nHost: x\r\n"
                + auth
                + b"Content-Length: 52428800\r\n\r\n"  # 50 MiB announced, none sent
            )
            got = _answer(sock, 5)
            sock.close()
            assert got.startswith(b"HTTP/1.1 401 "), got[:200]
            assert b"connection: close" in got.lower()
            assert b"www-authenticate: bearer realm=" in got.lower()
        # a small body: drained, and the connection serves the next request
        sock = _connect(mon.port)
        body = b'{"build_id": 1}'
        sock.sendall(
            b"POST "
            + WRITE.encode()
            + b" HTTP/1.1\r\nHost: x\r\nContent-Length: "
            + str(len(body)).encode()
            + b"\r\n\r\n"
            + body
        )
        first = _answer(sock, 5)
        assert first.startswith(b"HTTP/1.1 401 ") and b"connection: close" not in first.lower()
        sock.sendall(b"GET /ms1/ HTTP/1.1\r\nHost: x\r\n\r\n")
        assert _answer(sock, 5).startswith(b"HTTP/1.1 200 ")
        sock.close()
        # requests sees the 401 of a large upload (it reads the answer after a broken pipe)
        r = requests.post(
            f"{mon.base_url}/builds/phases/update/",
            data=b"x" * (20 * MIB),
            headers={"Authorization": "Bearer junk"},
            timeout=30,
        )
        assert r.status_code == 401


def test_tokenless_bodies_take_no_memory(serve):
    """20 connections without a token each announcing 90 MiB and sending 16 MiB: the server
    answers 401 at once and holds none of it (before: every body was read and kept, 69 MiB ->
    1.9 GB)."""
    server = serve()
    before = server.rss()
    socks = []
    sent = 0
    for _ in range(20):
        sock = _connect(server.port)
        sock.sendall(
            b"POST "
            + WRITE.encode()
            + b" HTTP/1.1\r\nHost: x\r\nContent-Length: "
            + str(90 * MIB).encode()
            + b"\r\n\r\n"
        )
        socks.append(sock)
    chunk = b"x" * MIB
    for sock in socks:
        try:
            for _ in range(16):
                sock.sendall(chunk)
                sent += len(chunk)
        except OSError:  # the server answered and closed: the rest is not wanted
            pass
    answers = [_answer(sock, 5) for sock in socks]
    for sock in socks:
        sock.close()
    grown = server.peak_rss() - before
    assert all(a.startswith(b"HTTP/1.1 401 ") for a in answers), [a[:40] for a in answers]
    assert requests.get(f"{server.base}/", timeout=5).status_code == 200
    relhelp.record(
        "attack tokenless 90 MiB bodies x 20: MiB sent, server peak growth MiB",
        (round(sent / MIB), round(grown / MIB, 1)),
    )
    assert grown < 64 * MIB, f"the server grew by {grown / MIB:.0f} MiB"


# ---------------------------------------------------------------------------------------------
# headers: size and time


def test_header_size_limit(serve):
    server = serve()
    before = server.rss()
    ok = requests.get(f"{server.base}/", headers={"X-Pad": "a" * (60 * 1024)}, timeout=10)
    assert ok.status_code == 200
    big = requests.get(f"{server.base}/", headers={"X-Pad": "a" * (70 * 1024)}, timeout=10)
    assert big.status_code == 431
    assert "64" in big.json()["message"] and big.json()["code"] == 431
    # a header that never ends: cut off after the limit, long before 256 MiB have been sent
    sock = _connect(server.port)
    sock.sendall(b"GET /ms1/ HTTP/1.1\r\nHost: x\r\nX-Pad: ")
    sent = 0
    try:
        for _ in range(256):
            sock.sendall(b"a" * MIB)
            sent += MIB
    except OSError:
        pass
    got = _answer(sock, 5)
    sock.close()
    assert got.startswith(b"HTTP/1.1 431 ") or got == b"", got[:100]
    assert sent < 64 * MIB, f"{sent / MIB:.0f} MiB of header were taken in"
    assert server.peak_rss() - before < 64 * MIB
    assert requests.get(f"{server.base}/", timeout=5).status_code == 200
    relhelp.record("attack endless header: MiB sent before the server closed", round(sent / MIB))


def test_half_sent_header_and_body_time_out(serve):
    server = serve("--header-timeout", "1", "--body-timeout", "1")
    header = _connect(server.port)
    header.sendall(b"GET /ms1/ HTTP/1.1\r\nHost: x\r\n")  # never finished
    body = _connect(server.port)
    body.sendall(
        b"POST " + WRITE.encode() + b" HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer junk\r\n"
        b"Content-Length: 100\r\n\r\n0123456789"  # 10 of 100 bytes
    )
    idle = _connect(server.port)  # connects and says nothing
    start = time.monotonic()
    got = [_answer(s, 8) for s in (header, body, idle)]
    took = time.monotonic() - start
    for s in (header, body, idle):
        s.close()
    assert got[0].startswith(b"HTTP/1.1 408 "), got[0][:100]
    assert b"headers did not arrive within 1 s" in got[0]
    assert got[1].startswith(b"HTTP/1.1 408 "), got[1][:100]
    assert b"body stalled" in got[1] or b"slower than" in got[1]
    assert got[2].startswith(b"HTTP/1.1 408 "), got[2][:100]
    assert took < 7, f"closed after {took:.1f} s"
    assert requests.get(f"{server.base}/", timeout=5).status_code == 200


def test_slow_connections_do_not_lock_out_other_clients(serve):
    """1,100 connections that never finish their headers, against a server limited to 1,024
    descriptors: new clients still get answers (before: every client was locked out)."""
    server = serve("--header-timeout", "60", nofile=1024)
    socks = []
    try:
        for _ in range(1100):
            sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
            sock.sendall(b"GET /ms1/ HTTP/1.1\r\nHost: x\r\n")
            socks.append(sock)
        time.sleep(0.5)
        worst = 0.0
        for _ in range(5):
            start = time.monotonic()
            r = requests.get(f"{server.base}/", timeout=10)
            worst = max(worst, time.monotonic() - start)
            assert r.status_code == 200
        r = requests.get(f"{server.url}/api/builds/", timeout=10)
        assert r.status_code == 200
    finally:
        for sock in socks:
            sock.close()
    relhelp.record(
        "attack 1,100 slow connections, 1,024 descriptors: worst GET (s)", round(worst, 3)
    )
    assert worst < 2.5


# ---------------------------------------------------------------------------------------------
# proxy headers


def _login(server: relhelp.ServeProcess, forwarded: str | None, token: str = "0" * 40) -> int:
    headers = {"X-Forwarded-For": forwarded} if forwarded else {}
    return requests.get(
        f"{server.base}/auth/token/", auth=("u", token), headers=headers, timeout=10
    ).status_code


def test_forwarded_for_not_trusted_by_default(serve):
    """Rotating X-Forwarded-For values do not escape the failed-login limit (before: uvicorn
    trusted them from 127.0.0.1, so 300 rotating guesses never met the limit)."""
    server = serve("--auth-failures", "3")
    codes = [_login(server, f"10.0.0.{i}") for i in range(6)]
    assert codes[:3] == [403, 403, 403]
    assert codes[3:] == [429, 429, 429]


def test_forwarded_for_trusted_from_named_proxies(serve):
    """With --forwarded-allow-ips the limiter counts per forwarded address: one address's
    failures do not lock out another."""
    server = serve("--auth-failures", "3", "--forwarded-allow-ips", "127.0.0.1")
    assert [_login(server, "10.0.0.1") for _ in range(4)] == [403, 403, 403, 429]
    assert _login(server, "10.0.0.2") == 403
