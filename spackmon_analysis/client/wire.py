"""The ``requests``/urllib3 layer under the transport (:mod:`.transport`).

- :class:`_ClientAdapter`: the client's ``HTTPAdapter`` (the hooks ``requests``
  documents for subclasses, made cheaper for the client's requests);
- the total deadline of an exchange: one watchdog thread (:class:`_Watchdog`) and
  connections that register with the exchange's :class:`_Deadline`, so that the watchdog
  can shut their sockets down mid-read;
- the bounded read of an answer (:func:`_read_body`): at most ``max_response_bytes``
  on the wire and decoded, through ``Response.raw``.

Only public API of ``requests`` and urllib3; the one attribute set on an object of
theirs is isolated in :func:`_watch_connections`.
"""

from __future__ import annotations

import heapq
import io
import itertools
import socket
import threading
import time
from collections.abc import Mapping
from typing import Any

import requests
import urllib3
from requests.adapters import HTTPAdapter
from requests.structures import CaseInsensitiveDict
from requests.utils import get_encoding_from_headers
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool


class _Deadline:
    """One exchange's total deadline: the connections it used, whether it has passed."""

    __slots__ = ("when", "connections", "fired", "done")

    def __init__(self, when: float) -> None:
        self.when = when
        self.connections: list[Any] = []
        self.fired = False
        self.done = False


class _Watchdog:
    """One daemon thread that ends exchanges whose total deadline has passed.

    A socket read times out only when *nothing* arrives for the read timeout; an answer
    trickling in a byte at a time never does. The client's own connections register
    with the exchange's :class:`_Deadline` (thread-local), and when it passes this
    thread shuts their sockets down, so the blocked read returns at once.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int, _Deadline]] = []
        self._seq = itertools.count()
        self._live = 0
        self._thread: threading.Thread | None = None

    def arm(self, seconds: float) -> _Deadline:
        deadline = _Deadline(time.monotonic() + seconds)
        with self._cond:
            heapq.heappush(self._heap, (deadline.when, next(self._seq), deadline))
            self._live += 1
            if len(self._heap) > 1024 and self._live * 2 < len(self._heap):
                self._heap = [item for item in self._heap if not item[2].done]
                heapq.heapify(self._heap)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="spackmon-client-deadlines", daemon=True
                )
                self._thread.start()
            elif self._heap[0][2] is deadline:
                self._cond.notify()
        return deadline

    def disarm(self, deadline: _Deadline) -> bool:
        """Stop watching; True when the deadline passed before this call."""
        with self._cond:
            if not deadline.done:
                deadline.done = True
                self._live -= 1
            deadline.connections = []
            return deadline.fired

    def _run(self) -> None:
        with self._cond:
            while True:
                while self._heap and self._heap[0][2].done:
                    heapq.heappop(self._heap)
                if not self._heap:
                    self._cond.wait(60)
                    if not self._heap:
                        self._thread = None
                        return
                    continue
                wait = self._heap[0][0] - time.monotonic()
                if wait > 0:
                    self._cond.wait(wait)
                    continue
                _when, _seq, deadline = heapq.heappop(self._heap)
                deadline.fired = True
                for connection in deadline.connections:
                    _shut(connection)


def _shut(connection: Any) -> None:
    """Shut a connection's socket down (a blocked read in another thread returns)."""
    sock = getattr(connection, "sock", None)
    if sock is None:
        return
    try:  # socket.socket's own shutdown also for TLS sockets (no TLS close_notify dance)
        socket.socket.shutdown(sock, socket.SHUT_RDWR)
    except (OSError, TypeError, ValueError):
        pass


_WATCHDOG = _Watchdog()
_ACTIVE = threading.local()


class _WatchedHTTPConnection(HTTPConnection):
    """A urllib3 connection that registers with the current exchange's deadline."""

    def request(self, *args: Any, **kwargs: Any) -> Any:
        deadline = getattr(_ACTIVE, "deadline", None)
        if deadline is not None:
            deadline.connections.append(self)
        return super().request(*args, **kwargs)


class _WatchedHTTPSConnection(HTTPSConnection):
    request = _WatchedHTTPConnection.request


class _WatchedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class _WatchedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


def _watch_connections(manager: urllib3.PoolManager) -> None:
    """Make ``manager``'s pools open :class:`_WatchedHTTPConnection` objects, the
    connections the total deadline of an exchange can end (:class:`_Watchdog`).

    The one place the transport sets something on a third-party object rather than
    passing it in: ``requests`` builds the urllib3 ``PoolManager`` itself (in the
    ``HTTPAdapter.init_poolmanager`` and ``proxy_manager_for`` hooks overridden
    below), and urllib3 takes the pool classes only from the manager's
    ``pool_classes_by_scheme`` attribute (public, no constructor argument). The pools'
    ``ConnectionCls`` is urllib3's documented way to choose the connection class.
    """
    manager.pool_classes_by_scheme = {"http": _WatchedHTTPPool, "https": _WatchedHTTPSPool}


class _TooLarge(Exception):
    """An answer over the size cap (``declared``: said so in ``Content-Length``)."""

    def __init__(self, size: int, declared: bool, decoded: bool) -> None:
        self.size = size
        self.declared = declared
        self.decoded = decoded
        super().__init__(size)


class _ClientAdapter(HTTPAdapter):
    """The client's own ``HTTPAdapter`` (same ``HTTPAdapter.send``, same urllib3 pool
    manager and connection pools, same exception mapping), with three of the hooks that
    ``requests`` documents for subclasses made cheaper for the client's requests:

    - responses are built without copying cookies into ``response.cookies`` (the client
      neither sends nor reads cookies, and the copy parses every response's headers
      again);
    - without proxies, the pool key attributes (scheme, host, port, TLS settings) are
      worked out once per origin and TLS setting instead of re-parsing the URL on every
      request; the pool itself is still looked up in the pool manager every time;
    - without proxies, the request line's URL is the request's path (what
      ``HTTPAdapter.request_url`` returns then) without a proxy lookup.

    With a proxy configured, ``requests``' own code runs unchanged. Its connections (also
    through an HTTP proxy; not SOCKS) register with the exchange's total deadline
    (:class:`_Watchdog`).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # (host parameters, pool keyword arguments): TypedDicts private to the requests stubs
        self._pool_keys: dict[tuple[Any, ...], tuple[Any, Any]] = {}

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        _watch_connections(self.poolmanager)

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        if type(manager) is urllib3.ProxyManager:  # not SOCKS: it has its own pool classes
            _watch_connections(manager)
        return manager

    def get_connection_with_tls_context(
        self,
        request: requests.PreparedRequest,
        verify: Any,
        proxies: Mapping[str, str] | None = None,
        cert: Any = None,
    ) -> Any:
        url = request.url
        if proxies or not isinstance(url, str):
            return super().get_connection_with_tls_context(request, verify, proxies, cert)
        slash = url.find("/", url.find("://") + 3)
        origin = url if slash < 0 else url[:slash]
        try:
            key = (origin, verify, cert)
            params = self._pool_keys.get(key)
        except TypeError:  # unhashable TLS settings: no cache
            return super().get_connection_with_tls_context(request, verify, proxies, cert)
        if params is None:
            try:
                params = self.build_connection_pool_key_attributes(request, verify, cert)
            except ValueError as exc:
                raise requests.exceptions.InvalidURL(exc, request=request) from exc
            if len(self._pool_keys) < 64:
                self._pool_keys[key] = params
        host_params, pool_kwargs = params
        return self.poolmanager.connection_from_host(**host_params, pool_kwargs=pool_kwargs)

    def request_url(self, request: requests.PreparedRequest, proxies: Any) -> str:
        if proxies:
            return super().request_url(request, proxies)
        return request.path_url

    def build_response(self, req: requests.PreparedRequest, resp: Any) -> requests.Response:
        response = requests.Response()
        response.status_code = resp.status
        response.headers = CaseInsensitiveDict(resp.headers)
        response.encoding = get_encoding_from_headers(response.headers)
        response.raw = resp
        response.reason = resp.reason
        # a prepared request that was sent always has its URL ("" only for an unprepared one)
        url = req.url or ""
        response.url = url.decode("utf-8") if isinstance(url, bytes) else url
        response.request = req
        response.connection = self
        return response


def _read_body(response: requests.Response, limit: int, deadline: _Deadline | None = None) -> None:
    """Read the whole answer, refusing more than ``limit`` bytes on the wire or decoded
    (:class:`_TooLarge`), then hand it to ``response`` so that ``response.content``,
    ``.text`` and ``.json()`` work as usual.

    Only public API: the body is read from ``response.raw`` (a urllib3 ``HTTPResponse``
    with ``read(amt, decode_content=True)`` and ``tell()``, or any file-like object a
    mounted adapter gives), and ``response.content`` loads the bytes read from a
    ``BytesIO`` set as ``response.raw`` for that moment (the original stream, read to its
    end, is put back). urllib3's errors are mapped the way
    ``iter_content`` maps them, except that a read timeout stays a
    :class:`requests.exceptions.ReadTimeout` (a write is never resent after one).

    A ``Content-Length`` over the cap is refused before anything is read. Decoding
    (gzip, deflate) goes 64 KiB at a time, so a small compressed bomb never expands
    beyond the cap in memory. ``deadline`` is given for an answer that did not come on
    one of the client's watched connections (an injected session, a mounted adapter):
    its body is then read in 64 KiB chunks and the read stops at the first chunk after
    the deadline passed (the caller reports it).
    """
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _TooLarge(int(declared), declared=True, decoded=False)
    raw = response.raw
    if isinstance(raw, urllib3.response.HTTPResponse):
        body = _read_urllib3(raw, declared, response.headers, limit, deadline)
    elif raw is not None and callable(getattr(raw, "read", None)):
        body = _read_file_like(raw, limit, deadline)
    else:  # a response without a stream (its adapter loaded the body already)
        body = None
    if body is not None:
        response.raw = io.BytesIO(body)
        try:
            content = response.content  # loaded from the bytes read above
        finally:
            response.raw = raw  # the stream it came on, read to its end, as requests leaves it
    else:
        content = response.content  # already loaded by the adapter
    if content is not None and len(content) > limit:
        raise _TooLarge(len(content), declared=False, decoded=False)


def _read_urllib3(
    raw: Any, declared: str, headers: Mapping[str, str], limit: int, deadline: _Deadline | None
) -> bytes:
    """The body of a urllib3 response, bounded on the wire (``tell()``) and decoded; read
    in 64 KiB chunks, stopping after ``deadline`` passed, unless it is declared, not
    encoded and no ``deadline`` is given (the connection is one the watchdog can end)."""
    chunks: list[bytes] = []
    total = 0
    encoded = headers.get("Content-Encoding", "identity").lower() != "identity"
    try:
        if declared.isdigit() and not encoded and deadline is None:
            return raw.read(decode_content=True) or b""  # at most `declared` bytes
        while deadline is None or not deadline.fired:
            chunk = raw.read(65536, decode_content=True)
            if not chunk:
                break
            total += len(chunk)
            if total > limit:
                raise _TooLarge(total, declared=False, decoded=encoded)
            if raw.tell() > limit:
                raise _TooLarge(raw.tell(), declared=False, decoded=False)
            chunks.append(chunk)
    except urllib3.exceptions.ReadTimeoutError as exc:
        raise requests.exceptions.ReadTimeout(exc) from exc
    except urllib3.exceptions.ProtocolError as exc:
        raise requests.exceptions.ChunkedEncodingError(exc) from exc
    except urllib3.exceptions.DecodeError as exc:
        raise requests.exceptions.ContentDecodingError(exc) from exc
    except urllib3.exceptions.SSLError as exc:
        raise requests.exceptions.SSLError(exc) from exc
    return b"".join(chunks)


def _read_file_like(raw: Any, limit: int, deadline: _Deadline | None) -> bytes:
    """The body of a mounted adapter's own response stream, in bounded chunks."""
    chunks: list[bytes] = []
    total = 0
    while deadline is None or not deadline.fired:
        chunk = raw.read(65536)
        if not chunk:
            break
        total += len(chunk)
        if total > limit:
            raise _TooLarge(total, declared=False, decoded=False)
        chunks.append(chunk)
    return b"".join(chunks)
