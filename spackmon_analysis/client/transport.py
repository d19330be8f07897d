"""The client's HTTP transport: one pooled ``requests.Session`` and what it adds.

- a connect timeout and a read timeout on every request (the read timeout of a write
  grows with its body: ``timeout`` + 1 s per MiB), and a total deadline per exchange
  (``deadline``, default 4 x the read timeout) that also ends an answer trickling in
  a byte at a time;
- answers are bounded: more than ``max_response_bytes`` (256 MiB by default), on the
  wire or after gzip/deflate decoding, is refused without holding more;
- bounded retries with exponential backoff: reads (GET) on connection errors, read
  timeouts and 502/503/504; writes (POST) only on connection errors and 502/503/504,
  never after a read timeout (the server may still be processing the first copy). A
  503 that says the disk is full or the database read-only is not retried unless it
  carries ``Retry-After`` (honoured, capped).

Every failure to get an answer is a typed
:class:`~spackmon_analysis.errors.TransportError` (or ``MonitorError``) naming the
method and URL; no raw ``requests`` exception escapes. Redirects and the token flow sit
one level up (:mod:`.auth`).

Only public API of ``requests`` and urllib3 is used (a test checks that no private
attribute of theirs is read or set): ``HTTPAdapter``'s documented hooks for subclasses,
``BaseAdapter.send``, ``Response.raw``/``.content``, ``PreparedRequest.prepare_cookies``,
urllib3's ``ConnectionCls``; the one attribute set on an object of theirs is isolated in
:func:`_watch_connections`. The transport is pluggable: any transport adapter mounted
on the client's session (``client.session.mount("http://testserver", adapter)``, e.g.
one that calls an ASGI app in-process) carries the requests for its prefix, with the
retries, the size cap, the deadline (checked between 64 KiB chunks of the body, as
for a session passed in with ``session=``), redirects and the token flow unchanged
above it.
"""

from __future__ import annotations

import heapq
import io
import itertools
import json
import os
import re
import socket
import threading
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

import requests
import urllib3
from requests.adapters import HTTPAdapter
from requests.cookies import RequestsCookieJar
from requests.structures import CaseInsensitiveDict
from requests.utils import get_encoding_from_headers
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from ..errors import ConfigError, MonitorError, TransportError

#: Statuses worth retrying: the gateway or the service is (briefly) unavailable.
RETRY_STATUSES = frozenset({502, 503, 504})

#: Longest pause honoured from a ``Retry-After`` header, in seconds.
MAX_RETRY_AFTER = 10.0
#: Methods that change nothing on the server: resent after a read timeout as well.
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
#: A 503 whose message says this is not retried without ``Retry-After`` (waiting does
#: not free a full disk or make a read-only database writable).
PERMANENT_503 = re.compile(
    r"disk (?:is )?full|no space left|read-?only|readonly|quota exceeded", re.IGNORECASE
)
#: Default cap on an answer's size, on the wire and after decoding (bytes).
DEFAULT_MAX_RESPONSE_BYTES = 256 * 1024 * 1024
#: Extra read timeout per MiB of request body (seconds): the server parses what it got.
READ_SECONDS_PER_MIB = 1.0
#: The default total deadline of one exchange, as a multiple of its read timeout.
DEADLINE_FACTOR = 4.0

#: Where the default ``spackmon serve`` listens (named in "cannot connect" messages).
SERVE_URL = "http://127.0.0.1:5000"


def _server_message(response: requests.Response) -> str:
    """The ``message`` of a JSON error envelope, else the response text (trimmed)."""
    try:
        payload = response.json()
    except ValueError:
        payload = None
    if isinstance(payload, dict):
        for key in ("message", "detail", "error", "errors"):
            if key in payload and payload[key] not in (None, ""):
                value = payload[key]
                return value if isinstance(value, str) else json.dumps(value)
    text = (response.text or "").strip()
    if text:
        return text if len(text) <= 500 else text[:500] + "..."
    return response.reason or f"HTTP {response.status_code}"


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
        self._pool_keys: dict[tuple[Any, ...], tuple[dict[str, Any], dict[str, Any]]] = {}

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
        response.url = req.url.decode("utf-8") if isinstance(req.url, bytes) else req.url
        response.request = req
        response.connection = self
        return response


def _read_body(response: requests.Response, limit: int, deadline: _Deadline | None = None) -> None:
    """Read the whole answer, refusing more than ``limit`` bytes on the wire or decoded
    (:class:`_TooLarge`), then hand it to ``response`` so that ``response.content``,
    ``.text`` and ``.json()`` work as usual.

    Only public API: the body is read from ``response.raw`` (a urllib3 ``HTTPResponse``
    with ``read(amt, decode_content=True)`` and ``tell()``, or any file-like object a
    mounted adapter gives), and the bytes read are put back as ``response.raw`` (a
    ``BytesIO``) for ``response.content`` to load. urllib3's errors are mapped the way
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
    content = response.content  # loaded from the bytes above (or already loaded)
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


def _short(exc: BaseException) -> str:
    text = str(exc)
    return text if len(text) <= 300 else text[:300] + "..."


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


def _transport_reason(
    exc: BaseException, timeout: float, read_timeout: float | None = None
) -> tuple[str, bool]:
    """``(short reason, connected)`` for a request that got no answer.

    ``connected`` is False when no connection was made at all (refused, unknown
    host, connect timeout) and True when the connection broke or timed out after
    the request went out.
    """
    low = str(exc).lower()
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return f"no connection within {timeout:g} s", False
    if isinstance(exc, requests.exceptions.ReadTimeout):
        waited = timeout if read_timeout is None else read_timeout
        return f"no answer within {waited:g} s", True
    if isinstance(exc, requests.exceptions.SSLError):
        return f"TLS error: {_short(exc)}", False
    if "refused" in low:
        return "connection refused", False
    if any(
        marker in low
        for marker in (
            "failed to resolve",
            "name resolution",
            "name or service not known",
            "nodename nor servname",
            "getaddrinfo failed",
        )
    ):
        return "host name not found", False
    if "unreachable" in low:
        return "network unreachable", False
    if "newconnectionerror" in low or "failed to establish" in low:
        return "no connection", False
    if "reset" in low:
        return "connection reset by the server", True
    if "remotedisconnected" in low or "closed connection" in low or "aborted" in low:
        return "the server closed the connection without answering", True
    return f"{type(exc).__name__}: {_short(exc)}", True


def _connection_failure(exc: BaseException) -> bool:
    """True when the request may not have reached the server's handler: a connection
    refused, reset or closed before an answer (a write may be resent); False for a read
    timeout or a broken answer (the server got the request and may act on it)."""
    return isinstance(exc, requests.exceptions.ConnectionError) and not isinstance(
        exc, requests.exceptions.ReadTimeout
    )


def _worth_retrying(response: requests.Response) -> bool:
    """False for a 503 that says the disk is full or the database read-only and gives no
    ``Retry-After``: a retry cannot succeed soon, so the error shows at once."""
    if response.status_code != 503 or response.headers.get("Retry-After"):
        return True
    return not PERMANENT_503.search(_server_message(response))


def _encode_json(body: Any, method: str, url: str) -> bytes:
    """The request body as JSON bytes, or a ConfigError naming the field JSON cannot carry.

    Standard JSON has no NaN or Infinity (the server would reject them, or worse, store
    text it cannot read back), and only dicts, lists, strings, numbers, booleans and None.
    """
    try:
        return json.dumps(body, allow_nan=False).encode("utf-8")
    except (TypeError, ValueError, RecursionError) as exc:
        where, what = _json_offender(body)
        field = f"field {where}" if where else "the body"
        what = what or f"not encodable as JSON ({type(exc).__name__}: {_short(exc)})"
        raise ConfigError(
            f"cannot send {method} {url}: {field} is {what}; nothing was sent"
        ) from exc


def _json_offender(value: Any, path: str = "", seen: set[int] | None = None) -> tuple[str, str]:
    """``(path, description)`` of the first value ``json.dumps(allow_nan=False)`` rejects."""
    import math

    seen = set() if seen is None else seen
    if isinstance(value, float) and not math.isfinite(value):
        return path, f"{value!r}, which JSON cannot carry (use None for a missing value)"
    if value is None or isinstance(value, str | int | float | bool):
        return "", ""
    if isinstance(value, dict | list | tuple):
        if id(value) in seen:
            return path, "a reference to itself, which JSON cannot carry (a circular structure)"
        seen = seen | {id(value)}
        if isinstance(value, dict):
            for key, item in value.items():
                if not (key is None or isinstance(key, str | int | float | bool)):
                    kind = type(key).__name__
                    return path, f"a mapping with a {kind} key ({key!r}); JSON keys are strings"
                where, what = _json_offender(item, f"{path}.{key}" if path else str(key), seen)
                if what:
                    return where, what
        else:
            for index, item in enumerate(value):
                where, what = _json_offender(item, f"{path}[{index}]", seen)
                if what:
                    return where, what
        return "", ""
    shown = _short(repr(value))[:80]
    return path, f"a {type(value).__name__} ({shown}), which is not a JSON value"


class Transport:
    """The transport half of :class:`~spackmon_analysis.client.SpackMonitorClient`:
    sending one exchange with deadlines, the size cap and retries (module docstring).
    ``SpackMonitorClient.__init__`` sets the attributes below."""

    host: str
    prefix: str
    host_is_default: bool
    timeout: float
    deadline: float | None
    max_response_bytes: int
    retries: int
    backoff: float
    session: requests.Session
    _owns_session: bool
    _fast_path: bool
    _hints: dict[str, str]
    _lock: threading.Lock
    request_count: int
    retry_count: int

    def _read_environment_settings(self) -> None:
        """Resolve proxies and CA bundle from the environment once, not per request.

        ``requests`` re-reads proxy variables and ``~/.netrc`` on every request when
        ``trust_env`` is on; the client does its own authentication, so it resolves the
        proxy for its host (honouring ``NO_PROXY``) and the CA bundle here instead.
        """
        from requests.utils import get_environ_proxies

        self.session.proxies.clear()
        self.session.proxies.update(get_environ_proxies(self.host))
        bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
        if bundle:
            self.session.verify = bundle
        self.session.trust_env = False

    # ------------------------------------------------------------------ basics

    @property
    def baseurl(self) -> str:
        """``host/prefix``: the root of the ``ms1`` API (no trailing slash)."""
        return f"{self.host}/{self.prefix}" if self.prefix else self.host

    def _url(self, path: str) -> str:
        if path.startswith(("http://", "https://")):
            return path
        path = path.lstrip("/")
        return f"{self.baseurl}/{path}"

    # --------------------------------------------------------------- transport
    def _read_timeout(self, body: bytes | None) -> float:
        """The read timeout of one request: ``timeout`` + 1 s per MiB of its body."""
        size = len(body) if body else 0
        return float(self.timeout) + READ_SECONDS_PER_MIB * size / (1024 * 1024)

    def _deadline_for(self, read_timeout: float) -> float:
        return float(self.deadline) if self.deadline is not None else DEADLINE_FACTOR * read_timeout

    def _send(
        self,
        method: str,
        url: str,
        *,
        body: bytes | None = None,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> requests.Response:
        """One exchange, with the retries of the module docstring (:meth:`_send_counted`)."""
        return self._send_counted(method, url, body=body, params=params, headers=headers)[0]

    def _send_counted(
        self,
        method: str,
        url: str,
        *,
        body: bytes | None = None,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> tuple[requests.Response, int]:
        """One exchange, with the retries of the module docstring: ``(the answer, the
        retries spent on 502/503/504 answers before it when it is one too)``.

        ``body`` is the JSON body already encoded (:func:`_encode_json`), so retries,
        redirects and the token flow resend the same bytes without re-serialising. The
        answer is read whole (at most ``max_response_bytes``) within the deadline.
        """
        attempt = 0
        write = method.upper() not in IDEMPOTENT_METHODS
        read_timeout = self._read_timeout(body)
        total = self._deadline_for(read_timeout)
        while True:
            response = None
            deadline = _WATCHDOG.arm(total)
            _ACTIVE.deadline = deadline
            failure: BaseException | None = None
            try:
                response = self._exchange(method, url, body, params, headers, read_timeout)
                # the watchdog ends a read on the client's own connections; any other
                # (an injected session, a mounted adapter) is checked between chunks
                unwatched = None if deadline.connections else deadline
                _read_body(response, self.max_response_bytes, unwatched)
            except (
                requests.exceptions.MissingSchema,
                requests.exceptions.InvalidSchema,
                requests.exceptions.InvalidURL,
            ) as exc:
                raise ConfigError(f"bad server URL {url!r}: {exc}") from exc
            except _TooLarge as exc:
                failure = exc
            except requests.RequestException as exc:
                failure = exc
            finally:
                _ACTIVE.deadline = None
                fired = _WATCHDOG.disarm(deadline)
            self._count()
            if fired:
                if response is not None:
                    response.close()
                raise self._deadline_error(method, url, total, write, attempt + 1) from failure
            if isinstance(failure, _TooLarge):
                response.close()
                raise self._too_large_error(failure, method, url, write, response) from None
            if failure is not None:
                if self.host_is_default and not _transport_reason(failure, self.timeout)[1]:
                    raise self._default_host_error(failure, url) from failure
                if write and not _connection_failure(failure):
                    raise self._unanswered_write(failure, method, url, read_timeout) from failure
                if attempt >= self.retries:
                    raise self._transport_error(
                        failure, method, url, attempt + 1, read_timeout
                    ) from failure
                self._pause(attempt, None)
                attempt += 1
                continue
            if (
                response.status_code in RETRY_STATUSES
                and attempt < self.retries
                and _worth_retrying(response)
            ):
                retry_after = response.headers.get("Retry-After")
                response.close()
                self._pause(attempt, retry_after)
                attempt += 1
                continue
            return response, attempt if response.status_code in RETRY_STATUSES else 0

    def _exchange(
        self,
        method: str,
        url: str,
        body: bytes | None,
        params: Mapping[str, Any] | None,
        headers: Mapping[str, str] | None,
        read_timeout: float,
    ) -> requests.Response:
        """Send one request and get the answer's head (the body is read by the caller)."""
        timeout = (self.timeout, read_timeout)
        if self._fast_path:
            prepared = self._prepare(method, url, body, params, headers)
            return self._send_prepared(prepared, timeout)
        extra = dict(headers or {})
        if body is not None:
            extra["Content-Type"] = "application/json"
        return self.session.request(
            method,
            url,
            data=body,
            params=params,
            headers=extra,
            timeout=timeout,
            allow_redirects=False,
            stream=True,
        )

    def _send_prepared(
        self, prepared: requests.PreparedRequest, timeout: Any = None
    ) -> requests.Response:
        """Send on the adapter mounted on the session for this URL (the client's
        :class:`_ClientAdapter`, or any transport adapter mounted with
        ``client.session.mount(prefix, adapter)``), through ``BaseAdapter.send``, the
        public transport-adapter interface of ``requests``.

        ``Session.send`` is not called: its per-request work is what the client does not
        use (proxy resolution, done once at construction; cookie extraction into the
        session's jar, the client sends no cookies; the redirect generator, redirects are
        handled by :meth:`_request`). Response hooks on ``session.hooks`` still run, as
        ``requests`` documents them (a hook that returns a value replaces the response),
        and a ``send`` replaced on the session (or overridden by a subclass) is called
        instead. The answer's body is left unread (``stream``): :func:`_read_body` reads it.
        """
        session = self.session
        options = {
            "stream": True,
            "timeout": timeout if timeout is not None else self.timeout,
            "verify": session.verify,
            "cert": session.cert,
            "proxies": session.proxies,
        }
        if "send" in vars(session) or type(session).send is not requests.Session.send:
            # someone wraps Session.send (a test seam, a subclass): honour it. Session.send
            # reads the request's cookie jar when a 3xx comes back: an empty one (public API)
            prepared.prepare_cookies(RequestsCookieJar())
            return session.send(prepared, allow_redirects=False, **options)
        response = session.get_adapter(prepared.url).send(prepared, **options)
        for hook in prepared.hooks.get("response", ()):
            answer = hook(response, **options)
            if answer is not None:
                response = answer
        return response

    def _default_host_error(self, exc: requests.RequestException, url: str) -> TransportError:
        """No server at the default host, which nobody chose: say at once what to set."""
        reason, _ = _transport_reason(exc, self.timeout)
        message = (
            f"no Spack Monitor at {self.baseurl}/ ({reason}); no server was named, so the "
            f"default was tried: {self._hints['host_default']}"
        )
        return TransportError(message, method="GET", url=url)

    def _transport_error(
        self,
        exc: BaseException,
        method: str,
        url: str,
        tries: int,
        read_timeout: float | None = None,
    ) -> TransportError:
        """A short, actionable message for a request that got no answer at all."""
        waited = self.timeout if read_timeout is None else read_timeout
        reason, connected = _transport_reason(exc, self.timeout, waited)
        attempts = f"{tries} attempt{'s' if tries != 1 else ''}"
        shown = url.split("?", 1)[0]
        if connected:
            message = (
                f"no answer from {shown} ({reason}) after {attempts}; the monitor may be "
                f"overloaded or restarting (the timeout is {waited:g} s per request)"
            )
        else:
            message = (
                f"cannot connect to {shown} ({reason}) after {attempts}; is a monitor "
                f"running there? {_capital(self._hints['host'])} "
                f"(spackmon serve listens on {SERVE_URL})"
            )
        return TransportError(message, method=method, url=url)

    def _unanswered_write(
        self, exc: BaseException, method: str, url: str, read_timeout: float
    ) -> TransportError:
        """A write that went out and got no (complete) answer: not resent."""
        reason, _connected = _transport_reason(exc, self.timeout, read_timeout)
        shown = url.split("?", 1)[0]
        return TransportError(
            f"{method} {shown}: the request was sent but no complete answer came ({reason}); "
            "the server may still be processing it, so it was NOT sent again (a write is "
            "resent only after a connection error or a 502/503/504). Check what the server "
            "holds before sending it again, or raise timeout=.",
            method=method,
            url=url,
        )

    def _deadline_error(
        self, method: str, url: str, total: float, write: bool, tries: int
    ) -> TransportError:
        shown = url.split("?", 1)[0]
        text = (
            f"{method} {shown}: no complete answer within the deadline of {total:g} s "
            f"(attempt {tries}); the answer was cut off"
        )
        if write:
            text += (
                " and the request was NOT sent again (the server may have processed it; "
                "check before sending it again)"
            )
        text += "; raise deadline= if the server is just slow"
        return TransportError(text, method=method, url=url)

    def _too_large_error(
        self,
        exc: _TooLarge,
        method: str,
        url: str,
        write: bool,
        response: requests.Response | None,
    ) -> MonitorError:
        shown = url.split("?", 1)[0]
        cap = self.max_response_bytes
        if exc.declared:
            what = f"declares {exc.size:,} bytes (Content-Length)"
        elif exc.decoded:
            what = f"decodes (Content-Encoding) to more than {cap:,} bytes"
        else:
            what = f"is more than {cap:,} bytes"
        text = (
            f"{method} {shown}: the answer {what}, over the client's cap of {cap:,} bytes; "
            "it was not read further"
        )
        if write:
            text += " (the server did answer, so it may have processed the request)"
        text += "; raise max_response_bytes= if this is expected"
        return MonitorError(
            text,
            method=method,
            url=url,
            status_code=response.status_code if response is not None else None,
            response=response,
        )

    def _prepare(
        self,
        method: str,
        url: str,
        body: bytes | None,
        params: Mapping[str, Any] | None,
        headers: Mapping[str, str] | None,
    ) -> requests.PreparedRequest:
        """A ``PreparedRequest`` built directly (the client's own session only).

        ``Session.request`` merges environment settings, cookies and auth and re-parses
        the URL on every call; the client's URLs are already ASCII and quoted, it sends
        no cookies and does its own authentication, so it prepares the request itself
        and hands it to the session's adapter (:meth:`_send_prepared`: same adapter,
        same connection pool, same response hooks). This halves the client's CPU time
        per request compared with ``Session.request``.
        """
        prepared = requests.PreparedRequest()
        prepared.method = method
        if params:
            query = urlencode([(k, v) for k, v in params.items()], doseq=True)
            url = f"{url}{'&' if '?' in url else '?'}{query}"
        if url.isascii() and " " not in url:
            prepared.url = url
        else:
            prepared.prepare_url(url, None)
        merged = CaseInsensitiveDict(self.session.headers)
        if headers:
            merged.update(headers)
        if body is not None:
            merged["Content-Type"] = "application/json"
        if body is not None or method not in ("GET", "HEAD", "OPTIONS"):
            merged["Content-Length"] = str(len(body or b""))
        prepared.headers = merged
        prepared.body = body
        prepared.hooks = {event: list(hooks) for event, hooks in self.session.hooks.items()}
        return prepared

    def _count(self) -> None:
        with self._lock:
            self.request_count += 1

    def _pause(self, attempt: int, retry_after: str | None) -> None:
        with self._lock:
            self.retry_count += 1
        delay = self.backoff * (2**attempt)
        if retry_after:
            try:
                delay = max(delay, min(float(retry_after), MAX_RETRY_AFTER))
            except ValueError:
                pass
        if delay > 0:
            time.sleep(delay)
