"""Smaller auth hardening (issue 14): duplicate Authorization headers, one spelling per bearer,
revoking sessions across servers, the Host header. On SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import json
import socket
import subprocess
import sys
import time
from urllib.parse import urlparse

import pytest
import requests

from spackmon_analysis.server import LocalMonitor

ROUTES = [
    ("GET", "/ms1/"),
    ("GET", "/ms1/auth/token/"),
    ("POST", "/ms1/builds/update/"),
    ("POST", "/ms1/specs/new/"),
    ("GET", "/api/builds/"),
    ("GET", "/api/builds/all/"),
    ("GET", "/api/"),
]


def raw_request(url: str, method: str, path: str, headers: list[tuple[str, str]]) -> tuple:
    """Send one HTTP/1.1 request with exactly these header lines; (status, headers, body)."""
    parts = urlparse(url)
    body = b'{"build_id": 1, "status": "SUCCESS"}' if method == "POST" else b""
    lines = [f"{method} {path} HTTP/1.1", *(f"{k}: {v}" for k, v in headers)]
    lines += [f"Content-Length: {len(body)}", "Connection: close", "", ""]
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall("\r\n".join(lines).encode("latin-1") + body)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, payload = data.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    got = {}
    for line in header_lines:
        key, _, value = line.partition(":")
        got[key.strip().lower()] = value.strip()
    return int(status_line.split()[1]), got, payload


def _bearer(mon: LocalMonitor, user: str = "alice") -> str:
    r = mon.session().get(f"{mon.base_url}/auth/token/", auth=(user, mon.tokens[user]))
    assert r.status_code == 200, r.text
    return r.json()["token"]


def _update(mon: LocalMonitor, token: str) -> requests.Response:
    # build 1 does not exist: a valid bearer gets 404, an invalid one 401
    return mon.session().post(
        f"{mon.base_url}/builds/update/",
        data=json.dumps({"build_id": 1, "status": "SUCCESS"}),
        headers={"Authorization": f"Bearer {token}"},
    )


# the tests of refused headers share one server on a real port per database
# (module_socket_mon: exact header lines on the wire, raw_request)
@pytest.mark.real_socket
@pytest.mark.parametrize("method,path", ROUTES)
def test_two_authorization_headers_are_400_on_every_route(module_socket_mon, method, path):
    mon = module_socket_mon
    token = _bearer(mon)
    host = urlparse(mon.url).netloc
    basic = base64.b64encode(f"alice:{mon.tokens['alice']}".encode()).decode()
    for pair in (
        [("Authorization", f"Bearer {token}"), ("Authorization", "Bearer junk")],
        [("Authorization", f"Basic {basic}"), ("Authorization", f"Bearer {token}")],
    ):
        status, _headers, body = raw_request(mon.url, method, path, [("Host", host), *pair])
        assert status == 400, body
        assert json.loads(body) == {
            "message": "The request has 2 Authorization headers; send exactly one.",
            "code": 400,
        }
    status, _headers, body = raw_request(
        mon.url, method, path, [("Host", host), ("Authorization", f"Bearer {token}")]
    )
    assert status < 500 and b"Authorization headers" not in body  # one header: answered


@pytest.mark.parametrize(
    "host",
    ['evil",service="https://attacker.example', "a b", "x\tcom", "h:99999999", "[::1", "a/b"],
)
@pytest.mark.real_socket
def test_a_bad_host_header_is_refused_not_reflected(module_socket_mon, host):
    mon = module_socket_mon
    for method, path in (("POST", "/ms1/builds/update/"), ("GET", "/api/builds/")):
        status, headers, body = raw_request(mon.url, method, path, [("Host", host)])
        assert status == 400, body
        assert "www-authenticate" not in headers
        assert json.loads(body)["message"] == (
            "The Host header is not a host name with an optional port."
        )


@pytest.mark.real_socket
def test_good_host_headers_are_used(module_socket_mon):
    mon = module_socket_mon
    for host in ("monitor.example.org:8080", "[::1]:5000", "spack_monitor", "10.0.0.1"):
        status, headers, _ = raw_request(mon.url, "POST", "/ms1/builds/update/", [("Host", host)])
        assert status == 401
        assert headers["www-authenticate"].startswith(f'Bearer realm="http://{host}/ms1/auth/')


def test_a_bearer_has_one_spelling(mon):
    token = _bearer(mon)
    assert _update(mon, token).status_code == 404  # accepted (no build 1)
    head, payload, signature = token.split(".")
    last = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    # the last character of a 32-byte signature carries 4 bits: its 2 low bits are an alias
    alias = last[last.index(signature[-1]) ^ 1]
    for spelling in (
        token + "=",
        token + "==",
        f"{head}=.{payload}.{signature}",
        f"{head}.{payload}.{signature[:-1]}{alias}",
        f"{head}.{payload}.{signature}=",
    ):
        r = _update(mon, spelling)
        assert r.status_code == 401, (spelling, r.text)
    assert _update(mon, token).status_code == 404


@pytest.fixture
def two_servers(mon):
    """``mon`` and a second server on the same database (another process's view of it)."""
    with LocalMonitor(mon.db_url, in_process=True) as other:
        other.tokens = mon.tokens
        yield mon, other


def test_revoke_sessions_ends_bearers_in_every_server(two_servers):
    first, second = two_servers
    token = _bearer(first)
    bob = _bearer(first, "bob")
    assert _update(first, token).status_code == 404 and _update(second, token).status_code == 404
    out = subprocess.run(
        [sys.executable, "-m", "spackmon_analysis", "users", "token", "alice", "--revoke-sessions"]
        + ["--db", first.db_url],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    new_api_token = out.stdout.strip()
    assert len(new_api_token) == 40
    deadline = time.monotonic() + 10  # servers re-read the generations every second
    while time.monotonic() < deadline:
        answers = {_update(first, token).status_code, _update(second, token).status_code}
        if answers == {401}:
            break
        time.sleep(0.2)
    assert answers == {401}
    assert _update(first, bob).status_code == 404  # another user's session goes on
    first.tokens["alice"] = new_api_token
    fresh = _bearer(first)
    assert _update(first, fresh).status_code == 404 and _update(second, fresh).status_code == 404
    # without the flag, rotation leaves the bearer alone (documented)
    first.rotate_token("alice")
    assert _update(second, fresh).status_code == 404
    first.rotate_token("alice", revoke_sessions=True)
    time.sleep(1.2)
    assert _update(second, fresh).status_code == 401
