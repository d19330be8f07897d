"""Attacks on ``SpackMonitorClient`` by a server that misbehaves on purpose (issue 14):
credentials that must stay with their origin, writes that must not be resent after a
read timeout, answers that must stay bounded (size, gzip bombs, slow drips, endless
pages). Each server here is a real ``http.server`` on a loopback port (tests/client/rogue.py).
"""

from __future__ import annotations

import contextlib
import gzip
import json
import threading
import time
import tracemalloc
import zlib

import pytest
from rogue import RogueServer, make_client

from spackmon_analysis.errors import AuthError, MonitorError, ServerError, TransportError

INFO = {"id": "spackmon", "status": "running"}
TOKEN = "a" * 40


def protected(target, status_for_redirect=None):
    """A monitor whose ms1 routes need a bearer from its own /auth/token realm; with
    ``status_for_redirect`` it then redirects every authenticated ms1 request to
    ``target()`` (another origin)."""

    def handle(req):
        if req.path.startswith("/auth/token"):
            if req.headers.get("authorization", "").startswith("Basic "):
                return req.reply(200, {"token": "bearer-of-A"})
            return req.reply(401, {"message": "no"})
        if req.headers.get("authorization") != "Bearer bearer-of-A":
            server = handle.server
            return req.reply(
                401,
                {"message": "auth"},
                {"WWW-Authenticate": f'Bearer realm="{server.url}/auth/token",service="x"'},
            )
        if status_for_redirect and req.path.startswith("/ms1/"):
            return req.reply(status_for_redirect, b"", {"Location": target() + req.path})
        return req.reply(200, INFO)

    return handle


# ------------------------------------------------------------------ redirects
@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_a_redirect_to_another_origin_drops_the_bearer_and_keeps_the_base(status):
    """Host A redirects to host B: B must not see A's bearer, and a 302 must not make
    B the client's server for later requests."""
    with RogueServer(lambda req: req.reply(200, {"at": "B"})) as other:
        handle = protected(lambda: other.url, status)
        with RogueServer(handle) as server:
            handle.server = server
            client = make_client(server.url, username="alice", token=TOKEN)
            assert client.service_info() == {"at": "B"}
            assert [s.headers.get("authorization") for s in other.seen] == [None]
            assert client.host == server.url  # the base did not move to B
            assert client.baseurl == server.url + "/ms1"
            client.service_info()  # the next request goes to A again (and is redirected)
            assert len(server.requests("GET", "/ms1/")) == 3  # 401, redirect, redirect
            assert all("authorization" not in s.headers for s in other.seen)


def test_a_302_on_the_same_origin_still_moves_the_prefix_with_the_bearer():
    def handle(req):
        if req.path.startswith("/ms1/"):
            return req.reply(302, b"", {"Location": "/ms2/" + req.path[5:]})
        return req.reply(200, {"auth": req.headers.get("authorization")})

    with RogueServer(handle) as server:
        client = make_client(server.url)
        client.bearer = "held"
        assert client.service_info() == {"auth": "Bearer held"}
        assert client.prefix == "ms2"


# ----------------------------------------------------------------------- realm
def test_the_api_token_is_not_sent_to_a_realm_on_another_origin():
    with RogueServer(lambda req: req.reply(200, {"token": "stolen"})) as thief:

        def handle(req):
            return req.reply(
                401, {"message": "auth"}, {"WWW-Authenticate": f'Bearer realm="{thief.url}/t"'}
            )

        with RogueServer(handle) as server:
            client = make_client(server.url, username="alice", token=TOKEN)
            with pytest.raises(AuthError) as info:
                client.update_build(1, "SUCCESS")
            assert "not on the server's own origin" in str(info.value)
            assert thief.url in str(info.value) and "auth_hosts=" in str(info.value)
            assert thief.seen == []  # the token never left


@contextlib.contextmanager
def _server_with_token_host():
    """``(auth, server)``: ``server`` answers 401 naming a token realm on ``auth``, another
    origin, and accepts the bearer ``auth`` issues."""
    with RogueServer(lambda req: req.reply(200, {"token": "from-auth-host"})) as auth:

        def handle(req):
            if req.headers.get("authorization") == "Bearer from-auth-host":
                return req.reply(200, INFO)
            return req.reply(
                401, {"message": "auth"}, {"WWW-Authenticate": f'Bearer realm="{auth.url}/t"'}
            )

        with RogueServer(handle) as server:
            yield auth, server


def test_auth_hosts_allows_a_named_token_host():
    with _server_with_token_host() as (auth, server):
        client = make_client(server.url, username="alice", token=TOKEN, auth_hosts=[auth.url])
        assert client.service_info() == INFO
        [basic] = auth.seen
        assert basic.headers["authorization"].startswith("Basic ")


# ------------------------------------------------------------- retries of writes
def test_a_write_is_not_resent_after_a_read_timeout():
    """A slow upload: the server processes it (slowly); the client must not send it again."""
    done = threading.Event()

    def handle(req):
        if req.method == "POST":
            time.sleep(1.5)  # processing, well past the client's read timeout
            done.set()
            return req.reply(200, {"message": "ok"})
        return req.reply(200, INFO)

    with RogueServer(handle) as server:
        client = make_client(server.url, timeout=0.4, retries=3)
        client.bearer = "b"
        with pytest.raises(TransportError) as info:
            client.update_build(1, "SUCCESS")
        assert "NOT sent again" in str(info.value)
        assert done.wait(10)
        time.sleep(0.3)
        assert len(server.requests("POST")) == 1


def test_a_read_is_retried_after_a_read_timeout_and_a_write_after_a_dropped_connection():
    calls = {"GET": 0, "POST": 0}

    def handle(req):
        calls[req.method] += 1
        if calls[req.method] == 1:
            if req.method == "GET":
                time.sleep(1.0)
            else:  # close without answering: the request never reached a handler's answer
                req.handler.close_connection = True
                req.handler.connection.shutdown(2)
                return None
        return req.reply(200, {"n": calls[req.method]})

    with RogueServer(handle) as server:
        client = make_client(server.url, timeout=0.4, retries=2)
        assert client.service_info() == {"n": 2}
        assert client._call("POST", "builds/update/", {"build_id": 1, "status": "X"}) == {"n": 2}


def test_the_read_timeout_of_a_write_grows_with_its_body():
    def handle(req):
        time.sleep(1.0)
        return req.reply(200, {"size": len(req.body)})

    with RogueServer(handle) as server:
        client = make_client(server.url, timeout=0.3, retries=0)
        output = "x" * (4 * 1024 * 1024)  # 4 MiB: read timeout 0.3 + 4 s
        answer = client.update_phase(1, "build", "SUCCESS", output)
        assert answer["size"] > len(output)
        assert len(server.seen) == 1


@pytest.mark.parametrize(
    "message", ["database or disk is full", "attempt to write a readonly database"]
)
def test_a_503_for_a_full_disk_or_read_only_database_is_not_retried(message):
    with RogueServer(lambda req: req.reply(503, {"message": f"busy: {message}"})) as server:
        client = make_client(server.url, retries=3)
        with pytest.raises(ServerError, match=message):
            client.update_build(1, "SUCCESS")
        assert len(server.seen) == 1


def test_a_503_with_retry_after_is_retried_even_for_a_full_disk():
    answers = iter([(503, {"message": "disk full"}, {"Retry-After": "0"})])

    def handle(req):
        status, payload, headers = next(answers, (200, INFO, {}))
        req.reply(status, payload, headers)

    with RogueServer(handle) as server:
        client = make_client(server.url, retries=3)
        assert client.service_info() == INFO
        assert len(server.seen) == 2


# ------------------------------------------------------------ bounded answers
def _bomb(decoded_bytes: int) -> bytes:
    """A gzip stream of ``decoded_bytes`` zeros (about a thousandth of that in size)."""
    comp = zlib.compressobj(9, zlib.DEFLATED, 31)
    block = b"\0" * (1024 * 1024)
    parts = [comp.compress(block) for _ in range(decoded_bytes // len(block))]
    return b"".join(parts) + comp.flush()


def test_a_gzip_bomb_is_refused_without_expanding_it_in_memory():
    bomb = _bomb(64 * 1024 * 1024)
    assert len(bomb) < 200_000

    def handle(req):
        req.reply(200, bomb, {"Content-Type": "application/json", "Content-Encoding": "gzip"})

    with RogueServer(handle) as server:
        client = make_client(server.url, max_response_bytes=1024 * 1024, retries=0)
        tracemalloc.start()
        try:
            with pytest.raises(MonitorError) as info:
                client.service_info()
            _now, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert "decodes (Content-Encoding) to more than 1,048,576 bytes" in str(info.value)
        assert peak < 16 * 1024 * 1024  # the 64 MiB it expands to was never held


def test_an_answer_declaring_more_than_the_cap_is_refused_before_reading():
    def handle(req):
        h = req.handler
        h.send_response(200)
        h.send_header("Content-Length", str(10**12))
        h.end_headers()
        h.wfile.write(b"[" * 1000)

    with RogueServer(handle) as server:
        client = make_client(server.url, retries=0)
        with pytest.raises(MonitorError, match="declares 1,000,000,000,000 bytes"):
            client.service_info()


def test_a_gzip_answer_under_the_cap_still_works():
    body = gzip.compress(json.dumps(INFO).encode())

    with RogueServer(lambda req: req.reply(200, body, {"Content-Encoding": "gzip"})) as server:
        assert make_client(server.url).service_info() == INFO


@pytest.mark.parametrize("where", ["body", "headers"])
def test_an_answer_trickling_in_a_byte_at_a_time_ends_at_the_deadline(where):
    """Each byte comes well before the read timeout, so only a total deadline ends the
    exchange (here the whole answer would take about 10 s; the deadline is 2 s)."""
    stop = threading.Event()
    body = json.dumps(INFO).encode()
    head = f"HTTP/1.1 200 OK\r\nContent-Length: {len(body)}\r\n\r\n".encode()

    def handle(req):
        h = req.handler
        slow = body if where == "body" else head
        if where == "body":
            h.wfile.write(head)
        for byte in slow:
            if stop.wait(10 / len(slow)):
                return
            h.wfile.write(bytes([byte]))
            h.wfile.flush()
        if where == "headers":
            h.wfile.write(body)

    with RogueServer(handle) as server:
        client = make_client(server.url, timeout=0.5, retries=2)  # default deadline: 2 s
        started = time.monotonic()
        try:
            with pytest.raises(TransportError, match="deadline of 2 s") as info:
                client.service_info()
        finally:
            stop.set()
        assert time.monotonic() - started < 8  # generous; the drip alone takes 10 s
        assert len(server.seen) == 1  # a request past its deadline is not repeated
        assert "raise deadline=" in str(info.value)


def test_the_deadline_also_ends_a_drip_through_an_http_proxy(monkeypatch):
    """With ``HTTP_PROXY`` set, the answer (here from the proxy itself) is bounded too."""
    stop = threading.Event()
    body = json.dumps(INFO).encode()

    def handle(req):
        h = req.handler
        h.wfile.write(f"HTTP/1.1 200 OK\r\nContent-Length: {len(body)}\r\n\r\n".encode())
        for byte in body:
            if stop.wait(10 / len(body)):
                return
            h.wfile.write(bytes([byte]))
            h.wfile.flush()

    with RogueServer(handle) as proxy:
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        client = make_client("http://monitor.invalid:5000", timeout=0.5, retries=0)
        assert client.session.proxies.get("http") == proxy.url
        started = time.monotonic()
        try:
            with pytest.raises(TransportError, match="deadline of 2 s"):
                client.service_info()
        finally:
            stop.set()
        assert time.monotonic() - started < 8
        assert proxy.seen[0].path == "http://monitor.invalid:5000/ms1/"


# ------------------------------------------------------------------- pagination
def _endless(count=None, pages_before_end=50):
    def handle(req):
        from urllib.parse import parse_qs, urlsplit

        query = parse_qs(urlsplit(req.path).query)
        limit, offset = int(query["limit"][0]), int(query["offset"][0])
        if offset // limit >= pages_before_end:  # the test's own safety net
            return req.reply(200, {"results": []})
        rows = [{"id": offset + i} for i in range(limit)]
        payload = {"results": rows, "next": f"{req.path}&more"}
        if count is not None:
            payload["count"] = count
        return req.reply(200, payload)

    return handle


def test_a_pull_stops_at_the_servers_count_even_when_pages_keep_coming():
    with RogueServer(_endless(count=25)) as server:
        client = make_client(server.url)
        rows = list(client.pull("builds", page_size=10))
        assert [r["id"] for r in rows] == list(range(25))
        assert len(server.seen) == 3


def test_a_pull_without_a_count_stops_at_the_page_cap():
    with RogueServer(_endless(count=None)) as server:
        client = make_client(server.url, max_pages=5)
        with pytest.raises(MonitorError, match="still had rows after 5 pages") as info:
            list(client.pull("builds", page_size=10))
        assert "max_pages=" in str(info.value)
        assert len(server.seen) == 5


def test_the_cli_allows_a_token_host_by_option_or_environment(monkeypatch, capsys):
    from spackmon_analysis.cli import main

    with _server_with_token_host() as (auth, server):
        monkeypatch.setenv("SPACKMON_USER", "alice")
        monkeypatch.setenv("SPACKMON_TOKEN", TOKEN)
        monkeypatch.delenv("SPACKMON_AUTH_HOSTS", raising=False)
        assert main(["info", "--host", server.url, "--retries", "0"]) == 1
        assert "the API token was not sent there" in capsys.readouterr().err
        assert auth.seen == []
        assert main(["info", "--host", server.url, "--auth-host", auth.url]) == 0
        assert json.loads(capsys.readouterr().out) == INFO
        monkeypatch.setenv("SPACKMON_AUTH_HOSTS", f"https://other.example, {auth.url}")
        assert main(["info", "--host", server.url]) == 0
