"""Transport limits of the embedded server: header size, read timeouts and a connection cap.

uvicorn's httptools protocol enforces none of these (measured against ``spackmon serve``: a
256 MiB header was accepted, a half-sent header or body stayed open for ever, and 1,100 slow
connections used up a 1,024-descriptor limit so that no client could connect). The protocol
class made by :func:`guarded_protocol` adds them below the ASGI application:

* **header size**: a request whose headers pass ``max_header_bytes`` (64 KiB) is answered
  ``431 Request Header Fields Too Large`` and the connection closed;
* **header timeout**: a request's headers must arrive within ``header_timeout`` seconds of its
  first byte (of the connection, for a first request); else ``408`` and close;
* **body timeout**: while a request body is being received, a silence of ``body_timeout``
  seconds, or an average rate below ``min_body_rate`` bytes/s once ``body_timeout`` seconds
  have passed, ends the connection with ``408`` (time the server itself stops reading, while
  the application is busy, does not count);
* **connection cap**: at most ``max_connections`` connections are open at once (by default
  the descriptor limit less a reserve for the database and files). A new connection beyond the
  cap closes the oldest connection that is not waiting for its answer (one still sending its
  headers or body, or idle between requests), so slow or idle clients cannot lock out new ones.

Connections are checked once a second by one timer per server.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

__all__ = ["TransportLimits", "guarded_protocol", "default_max_connections"]

#: Descriptors kept free beyond the connection cap (database connections, log files, imports).
FD_RESERVE = 128
#: Bytes read and thrown away after a 408/431 answer before the connection is dropped.
LINGER_BYTES = 1 << 20


def default_max_connections() -> int:
    """The descriptor limit (``RLIMIT_NOFILE``) less a reserve: the default connection cap."""
    try:
        import resource

        soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    except (ImportError, OSError, ValueError):
        return 1000
    if soft == resource.RLIM_INFINITY or soft <= 0:
        return 10_000
    return max(8, soft - min(FD_RESERVE, soft // 4))


@dataclass(frozen=True)
class TransportLimits:
    """Limits enforced below the application (see the module docstring)."""

    max_header_bytes: int = 64 * 1024
    header_timeout: float = 10.0
    body_timeout: float = 30.0
    min_body_rate: float = 1024.0
    max_connections: int | None = None  # None: default_max_connections()

    def __post_init__(self) -> None:
        for name in ("max_header_bytes", "header_timeout", "body_timeout"):
            value = getattr(self, name)
            if not value > 0:
                raise ValueError(f"{name} must be greater than zero, got {value!r}")
        if self.min_body_rate < 0:
            raise ValueError(f"min_body_rate must be zero or more, got {self.min_body_rate!r}")
        if self.max_connections is not None and self.max_connections < 1:
            raise ValueError(f"max_connections must be at least 1, got {self.max_connections!r}")

    @property
    def connections(self) -> int:
        """The connection cap in effect."""
        return self.max_connections or default_max_connections()


_REASONS = {408: "Request Timeout", 431: "Request Header Fields Too Large"}

# Connection phases
_HEADER, _BODY, _BUSY, _IDLE = "header", "body", "busy", "idle"


def _answer(status: int, message: str) -> bytes:
    body = json.dumps({"message": message, "code": status}).encode()
    return (
        f"HTTP/1.1 {status} {_REASONS[status]}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
    ).encode() + body


def guarded_protocol(base: type, limits: TransportLimits) -> type:
    """A subclass of uvicorn's httptools protocol ``base`` enforcing ``limits``.

    Each call makes a new class with its own table of open connections (one per server).
    """
    cap = limits.connections
    too_large = (
        f"The request headers exceed the limit of {limits.max_header_bytes} bytes "
        f"({limits.max_header_bytes / 1024:g} KiB)."
    )
    open_connections: set[Any] = set()
    sweeper: dict[str, Any] = {"handle": None}

    def sweep(loop: Any) -> None:
        sweeper["handle"] = None
        now = time.monotonic()
        for conn in list(open_connections):
            conn._guard_check(now)
        if open_connections:
            sweeper["handle"] = loop.call_later(1.0, sweep, loop)

    class GuardedProtocol(base):
        guard_limits = limits
        guard_connections = open_connections

        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            now = time.monotonic()
            self._g_phase = _HEADER
            self._g_since = now  # when the current phase started
            self._g_header_bytes = 0
            self._g_parsed = 0
            self._g_too_large = False
            self._g_body_bytes = 0
            self._g_last = now  # last body bytes
            self._g_closed = False
            self._g_linger = 0
            if len(open_connections) >= cap:
                victims = [c for c in open_connections if c._g_phase != _BUSY]
                if victims:
                    min(victims, key=lambda c: c._g_since)._guard_close(None, "")
                else:  # every connection is waiting for its answer: refuse this one
                    self._g_closed = True
                    transport.close()
                    return
            open_connections.add(self)
            if sweeper["handle"] is None:
                sweeper["handle"] = self.loop.call_later(1.0, sweep, self.loop)

        def connection_lost(self, exc: Exception | None) -> None:
            open_connections.discard(self)
            self._g_closed = True
            super().connection_lost(exc)

        def data_received(self, data: bytes) -> None:
            if self._g_closed:  # lingering after an answer: discard, but not without end
                self._g_linger += len(data)
                if self._g_linger > LINGER_BYTES and self.transport is not None:
                    self.transport.abort()
                return
            if self._g_phase == _BODY:
                self._g_body_bytes += len(data)
                self._g_last = time.monotonic()
            super().data_received(data)
            if self._g_phase == _HEADER and not self._g_closed:
                self._g_header_bytes += len(data)
                if self._g_header_bytes > limits.max_header_bytes:
                    self._guard_close(
                        431,
                        too_large,
                    )

        # parser callbacks (httptools)
        def on_message_begin(self) -> None:
            super().on_message_begin()
            self._g_parsed = 0  # header bytes of this request seen by the parser
            if self._g_phase != _HEADER:
                self._g_phase = _HEADER
                self._g_since = time.monotonic()
                self._g_header_bytes = 0

        def on_url(self, url: bytes) -> None:
            self._g_parsed += len(url)
            super().on_url(url)

        def on_header(self, name: bytes, value: bytes) -> None:
            self._g_parsed += len(name) + len(value) + 4
            super().on_header(name, value)

        def on_headers_complete(self) -> None:
            # Headers that arrived whole in one read are measured here (the parser saw them
            # all); uvicorn turns the exception into its 400 answer, which send_400_response
            # below replaces by the 431.
            if self._g_parsed > limits.max_header_bytes:
                self._g_too_large = True
                raise ValueError("request headers too large")
            super().on_headers_complete()
            now = time.monotonic()
            self._g_phase = _BODY
            self._g_since = self._g_last = now
            self._g_body_bytes = 0

        def on_message_complete(self) -> None:
            super().on_message_complete()
            self._g_phase = _BUSY

        def on_response_complete(self) -> None:
            super().on_response_complete()
            if self._g_phase == _BUSY:
                self._g_phase = _IDLE
                self._g_since = time.monotonic()

        def send_400_response(self, msg: str) -> None:
            if getattr(self, "_g_too_large", False):
                self._guard_close(431, too_large)
            else:
                super().send_400_response(msg)

        # the checks
        def _guard_check(self, now: float) -> None:
            phase = self._g_phase
            if phase == _HEADER:
                if now - self._g_since >= limits.header_timeout:
                    self._guard_close(
                        408,
                        f"The request headers did not arrive within {limits.header_timeout:g} s.",
                    )
            elif phase == _BODY:
                flow = getattr(self, "flow", None)
                if flow is not None and flow.read_paused:
                    self._g_last = now  # the server is not reading: not the client's delay
                    return
                silent = now - self._g_last
                elapsed = now - self._g_since
                if silent >= limits.body_timeout:
                    self._guard_close(
                        408, f"The request body stalled for {limits.body_timeout:g} s."
                    )
                elif (
                    elapsed >= limits.body_timeout
                    and self._g_body_bytes < limits.min_body_rate * elapsed
                ):
                    self._guard_close(
                        408,
                        f"The request body arrived slower than {limits.min_body_rate:g} bytes/s.",
                    )

        def _guard_close(self, status: int | None, message: str) -> None:
            if self._g_closed:
                return
            self._g_closed = True
            open_connections.discard(self)
            transport = self.transport
            if transport is None or transport.is_closing():
                return
            if status is None:  # evicted: free the descriptor now
                transport.abort()
                return
            if self._g_phase in (_HEADER, _BODY):
                try:
                    transport.write(_answer(status, message))
                    flush = getattr(transport, "_flush", None)  # local._CoalescingTransport
                    if flush is not None:
                        flush()
                    if transport.can_write_eof():
                        # Lingering close: the client may still be sending; closing with unread
                        # data would reset the connection and lose the answer. Stop sending,
                        # discard what arrives for a second, then close.
                        transport.write_eof()
                        self.loop.call_later(1.0, transport.close)
                        return
                except Exception:  # noqa: BLE001 - the peer may be gone already
                    pass
            transport.close()

    GuardedProtocol.__name__ = GuardedProtocol.__qualname__ = f"Guarded{base.__name__}"
    return GuardedProtocol
