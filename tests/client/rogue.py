"""A loopback HTTP server that misbehaves on purpose, for the client hardening tests.

``RogueServer(handle)`` calls ``handle(request)`` for every request; ``request`` has
``method``, ``path``, ``headers`` (lower-case keys), ``body`` and the raw ``handler``
(a ``BaseHTTPRequestHandler``) for answers that drip, stall or lie. ``request.reply``
sends an ordinary answer. Every request is recorded in ``server.seen``.
``ScriptedServer(script)`` is the same server answering ``script(method, path, headers,
body) -> (status, headers, payload)``; ``make_client`` a client of either without pauses.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from spackmon_analysis.client import SpackMonitorClient


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    handler: Any = field(repr=False, default=None)

    def reply(self, status: int, payload: Any = None, headers: dict | None = None) -> None:
        if isinstance(payload, bytes):
            data = payload
        else:
            data = json.dumps(payload if payload is not None else {}).encode()
        h = self.handler
        h.send_response(status)
        for key, value in (headers or {}).items():
            h.send_header(key, value)
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        h.wfile.write(data)


class RogueServer:
    def __init__(self, handle):
        self.handle = handle
        self.seen: list[Seen] = []
        self.lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _any(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                seen = Seen(
                    self.command,
                    self.path,
                    {k.lower(): v for k, v in self.headers.items()},
                    body,
                    self,
                )
                with owner.lock:
                    owner.seen.append(seen)
                try:
                    owner.handle(seen)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up on a stalled answer: expected here

            do_GET = do_POST = _any

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    def __enter__(self) -> RogueServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def requests(self, method: str | None = None, path: str | None = None) -> list[Seen]:
        with self.lock:
            return [
                s
                for s in self.seen
                if (method is None or s.method == method) and (path is None or s.path == path)
            ]


class ScriptedServer(RogueServer):
    """A :class:`RogueServer` whose answers are ``script(method, path, headers, body)``
    returning ``(status, extra headers, payload)``."""

    def __init__(self, script):
        def handle(req: Seen) -> None:
            status, extra, payload = script(req.method, req.path, req.headers, req.body)
            req.reply(status, payload, extra)

        super().__init__(handle)

    def paths(self) -> list[tuple[str, str]]:
        return [(s.method, s.path) for s in self.requests()]


def make_client(url: str, **kwargs: Any) -> SpackMonitorClient:
    """A client of ``url`` with no pause between attempts and no progress bars."""
    kwargs.setdefault("backoff", 0)
    kwargs.setdefault("progress", False)
    return SpackMonitorClient(host=url, **kwargs)
