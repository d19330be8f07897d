"""The transport's seams: only public API of ``requests`` and urllib3, a transport adapter
mounted on ``client.session`` carries every request, and the behaviour above it (retries,
the size cap, connection reuse, redirects through a wrapped ``send``) stays the client's.
A tiny real ``http.server`` on a loopback port plays the server."""

from __future__ import annotations

import ast
import io
import threading
import time
from pathlib import Path

import pytest
import requests
from requests.adapters import HTTPAdapter
from rogue import RogueServer, ScriptedServer, make_client

import spackmon_analysis.client
from spackmon_analysis.errors import MonitorError, NotFoundError, TransportError

INFO = {"id": "spackmon", "status": "running"}
CLIENT = Path(spackmon_analysis.client.__file__).parent


def _private_names_defined_by_the_client() -> set[str]:
    """``_names`` the client package itself defines: functions, classes, class-level
    names, and attributes it assigns on ``self``."""
    defined: set[str] = set()
    for path in CLIENT.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                defined.add(node.name)
            elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                defined.add(node.id)
            elif (
                isinstance(node, ast.Attribute)
                and isinstance(node.ctx, ast.Store)
                and isinstance(node.value, ast.Name)
                and node.value.id == "self"
            ):
                defined.add(node.attr)
    return defined


def test_the_client_touches_no_private_attribute_of_requests_or_urllib3():
    """Every ``obj._name`` the client reads or sets is one of its own (a method, a field,
    a module function): none of ``Response._content``, ``PreparedRequest._cookies`` and
    the like, which change between releases of ``requests`` without notice."""
    ours = _private_names_defined_by_the_client()
    foreign = []
    for path in sorted(CLIENT.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not isinstance(node, ast.Attribute):
                continue
            name = node.attr
            if name.startswith("_") and not name.startswith("__") and name not in ours:
                foreign.append(f"{path.name}:{node.lineno}: .{name}")
    assert foreign == []


class StreamingAdapter(HTTPAdapter):
    """A transport adapter of its own (as an in-process ASGI adapter would be): it counts
    what it sends and hands the answer back as a plain byte stream without a declared
    length, not as urllib3's response object."""

    def __init__(self) -> None:
        super().__init__(max_retries=0)
        self.sent: list[tuple[str, str]] = []

    def send(self, request, **kwargs):  # type: ignore[override]
        self.sent.append((request.method, request.url))
        response = super().send(request, **kwargs)
        body = response.raw.read(decode_content=True)
        response.raw = io.BytesIO(body)
        del response.headers["Content-Length"]
        return response


def test_a_mounted_adapter_carries_every_request_and_the_client_still_retries():
    answers = iter([(503, {}, {"message": "warming up"})])

    def script(method, path, headers, body):
        return next(answers, (200, {}, INFO))

    with ScriptedServer(script) as server:
        client = make_client(server.url)
        adapter = StreamingAdapter()
        client.session.mount(server.url, adapter)
        assert client.service_info() == INFO
        assert client.phase(1) == INFO
    assert adapter.sent == [
        ("GET", server.url + "/ms1/"),
        ("GET", server.url + "/ms1/"),
        ("GET", server.url + "/api/buildphases/1/"),
    ]
    assert client.retry_count == 1


def test_the_size_cap_holds_for_a_mounted_adapters_answers():
    big = {"rows": ["x" * 1000] * 2000}  # about 2 MB of JSON

    with ScriptedServer(lambda *a: (200, {}, big)) as server:
        client = make_client(server.url, max_response_bytes=1024 * 1024, retries=0)
        client.session.mount(server.url, StreamingAdapter())
        with pytest.raises(MonitorError, match="is more than 1,048,576 bytes"):
            client.service_info()
        client.max_response_bytes = 4 * 1024 * 1024
        assert client.service_info() == big


def test_one_connection_carries_reads_writes_errors_and_retries():
    """Keep-alive: after whole answers (2xx, 4xx, a retried 503) the next request goes on
    the same connection."""
    answers = iter([(200, {}, INFO), (404, {}, {"message": "no"}), (503, {}, {"message": "x"})])

    def handle(req):
        status, _extra, payload = next(answers, (200, {}, INFO))
        req.reply(status, payload)

    with RogueServer(handle) as server:
        client = make_client(server.url)
        assert client.service_info() == INFO
        with pytest.raises(NotFoundError):
            client.service_info()
        assert client.service_info() == INFO  # after one retry of the 503
        client.update_build(1, "SUCCESS")
        ports = {seen.handler.client_address[1] for seen in server.seen}
    assert len(server.seen) == 5
    assert len(ports) == 1


def test_a_wrapped_session_send_follows_a_302_that_moves_the_prefix():
    """``Session.send`` (here wrapped by a test) reads the request's cookie jar when a 3xx
    comes back: the client's requests carry an (empty) one, through public API."""

    def script(method, path, headers, body):
        if path.startswith("/ms1/"):
            return 302, {"Location": "/v2/" + path[len("/ms1/") :]}, {}
        return 200, {}, {"path": path}

    with ScriptedServer(script) as server:
        client = make_client(server.url)
        original = client.session.send
        sent = []

        def spy(request, **kwargs):
            sent.append(request.url)
            return original(request, **kwargs)

        client.session.send = spy
        assert client.service_info() == {"path": "/v2/"}
        assert client.baseurl == server.url + "/v2"
    assert sent == [server.url + "/ms1/", server.url + "/v2/"]


def test_the_deadline_ends_a_slow_answer_through_an_injected_session():
    """Through a session passed in (its own adapter and connections, which the watchdog
    does not know), the body is read in 64 KiB chunks and the read stops at the first
    chunk after the deadline: a 1.6 MB answer arriving in pieces, each well within the
    read timeout, no longer holds the caller for the whole 7.5 s."""
    stop = threading.Event()
    piece = b" " * 65536
    pieces = 25

    def handle(req):
        h = req.handler
        h.send_response(200)
        h.send_header("Content-Length", str(len(piece) * pieces + 2))
        h.end_headers()
        h.wfile.write(b"{}")
        for _ in range(pieces):
            if stop.wait(0.3):
                return
            h.wfile.write(piece)
            h.wfile.flush()

    with RogueServer(handle) as server:
        client = make_client(server.url, timeout=0.5, retries=0, session=requests.Session())
        started = time.monotonic()
        try:
            with pytest.raises(TransportError, match="deadline of 2 s"):
                client.service_info()
        finally:
            stop.set()
        assert time.monotonic() - started < 6  # generous; the whole answer takes 7.5 s
