"""``SpackMonitorClient``: talk to any server that speaks the Spack Monitor ``ms1`` protocol.

The same names as the Spack Monitor API tutorial's client, plus save-local replay and
lazy, paginated pulls of the data API into pandas::

    from spackmon_analysis import SpackMonitorClient

    client = SpackMonitorClient()                 # SPACKMON_HOST or http://127.0.0.1, prefix ms1
    client.service_info()                         # public
    client.upload_specfile("specs/singularity-3.6.4.json", "0.16.0")   # needs credentials
    summary = client.upload_local_save("~/.spack/reports/monitor/")   # replay save-local runs
    failed = client.builds(status="FAILED").to_frame()

Transport (one pooled ``requests.Session``):

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
  carries ``Retry-After`` (honoured, capped);
- redirects: 301/307/308 redirect the one request; a 302 on the server's own origin
  moves the base URL (host and prefix) for every later request (PROTOCOL section 2).
  A redirect to another origin is followed for that one request without the
  ``Authorization`` header, and never moves the base URL; a redirect without
  ``Location`` raises :class:`~spackmon_analysis.errors.RedirectError`;
- the docker-style token flow (PROTOCOL section 3): a 401 carrying ``Www-Authenticate``
  (with or without a scheme word) sends ``GET <realm>`` with HTTP Basic credentials
  (``SPACKMON_USER`` / ``SPACKMON_TOKEN``), takes ``token`` or ``access_token`` from the
  answer, retries the original request once with ``Authorization: Bearer``, keeps the
  bearer for later requests and repeats the dance when a later 401 says it expired.
  The Basic credentials go only to a realm on the server's own origin (or an origin
  named in ``auth_hosts``); the bearer only to the server's own origin.

Every failure is a typed :class:`~spackmon_analysis.errors.MonitorError` carrying the
method, URL, status code and the server's message; no raw ``requests`` exception and
no ``KeyError`` on a response escapes.
"""

from __future__ import annotations

import base64
import gzip
import heapq
import html
import itertools
import json
import os
import re
import socket
import sys
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode, urljoin, urlsplit

import requests
import urllib3
from requests.adapters import HTTPAdapter
from requests.cookies import RequestsCookieJar
from requests.hooks import dispatch_hook
from requests.structures import CaseInsensitiveDict
from requests.utils import get_encoding_from_headers
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from . import __version__
from .errors import (
    AuthError,
    BadRequestError,
    ConfigError,
    HTTPStatusError,
    InstallPrefixError,
    MonitorError,
    NotFoundError,
    PayloadTooLargeError,
    RedirectError,
    ServerError,
    SpecFormatError,
    TransportError,
)
from .safetext import printable

__all__ = [
    "SpackMonitorClient",
    "ReplaySummary",
    "BuildChange",
    "PaginatedPull",
    "parse_www_authenticate",
    "read_spec_document",
    "ROUTE_COLUMNS",
]

DEFAULT_HOST = "http://127.0.0.1"
DEFAULT_PREFIX = "ms1"
#: Statuses worth retrying: the gateway or the service is (briefly) unavailable.
RETRY_STATUSES = frozenset({502, 503, 504})
MAX_REDIRECTS = 5
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
#: Default cap on the pages one pull fetches (with ``page_size=1000``: 10 million rows).
MAX_PAGES = 10_000
CREDENTIALS_HINT = (
    "set SPACKMON_USER and SPACKMON_TOKEN in the environment "
    "(or pass username= and token= to SpackMonitorClient)"
)
#: Where the default ``spackmon serve`` listens (named in "cannot connect" messages).
SERVE_URL = "http://127.0.0.1:5000"
#: How the error messages tell the user to set the host and the credentials; the
#: ``spackmon`` commands swap in their option names (:data:`CLI_HINTS`).
LIBRARY_HINTS = {
    "host": "pass host= or set SPACKMON_HOST",
    "host_default": f"pass host= or export SPACKMON_HOST={SERVE_URL} (spackmon serve's address)",
    "credentials": CREDENTIALS_HINT,
}
CLI_HINTS = {
    "host": "set --host or SPACKMON_HOST",
    "host_default": (
        "start `spackmon serve`, or pass --host or export SPACKMON_HOST=http://HOST:PORT"
    ),
    "credentials": (
        "pass --user and --token, or set SPACKMON_USER and SPACKMON_TOKEN in the environment"
    ),
}
#: Data API routes behind the pull shortcuts.
PULL_ROUTES = {
    "builds": "builds",
    "specs": "specs",
    "phases": "buildphases",
    "errors": "builderrors",
    "warnings": "buildwarnings",
}

#: The fields of each data API route's rows, in the server's order (the embedded
#: monitor's schema; ``spackmon_analysis.server.queries.ROUTES`` shapes the rows and a test
#: checks that the two agree). An empty pull's ``to_frame()`` gets these columns.
#: ``buildphases`` rows carry ``output`` only when the pull has ``output=1``.
ROUTE_COLUMNS: dict[str, tuple[str, ...]] = {
    "specs": (
        "id", "name", "version", "full_hash", "hash", "build_hash", "dag_hash",
        "package_hash", "spack_version", "namespace", "compiler_name", "compiler_version",
        "compiler", "architecture", "platform", "os", "target", "parameters", "external",
        "external_path", "is_root", "created_at",
    ),
    "dependencies": (
        "id", "spec", "dependency", "spec_full_hash", "dependency_full_hash", "spec_name",
        "dependency_name", "deptypes", "virtuals",
    ),
    "builds": (
        "id", "spec", "spec_name", "spec_version", "full_hash", "status",
        "build_environment", "host_os", "platform", "host_target", "hostname",
        "kernel_version", "spack_version", "tags", "owner", "config_args", "created_at",
        "updated_at",
    ),
    "buildenvironments": (
        "id", "hostname", "host_os", "platform", "host_target", "kernel_version",
    ),
    "buildphases": (
        "id", "build", "name", "status", "output", "output_size", "created_at", "updated_at",
    ),
    "builderrors": (
        "id", "build", "phase", "phase_name", "kind", "text", "line_no", "source_file",
        "source_line_no", "pre_context", "post_context", "repeat_count", "classes",
    ),
    "installfiles": (
        "id", "build", "path", "prefix", "ftype", "mode", "owner", "group", "hash", "size",
        "time", "extra",
    ),
    "attributes": (
        "id", "build", "analyzer", "name", "install_file", "value", "json_value",
        "binary_value",
    ),
    "environmentvariable": ("id", "build", "name", "value"),
    "compilers": ("id", "name", "version"),
    "architectures": ("id", "platform", "os", "target", "target_name"),
    "targets": ("id", "name", "vendor", "generation", "features", "parents"),
    "features": ("id", "name"),
}  # fmt: skip
ROUTE_COLUMNS["buildwarnings"] = ROUTE_COLUMNS["builderrors"]

_AUTH_FIELD = re.compile(r'([A-Za-z_]+)\s*=\s*"([^"]*)"')


def parse_www_authenticate(header: str) -> dict[str, str]:
    """The ``key="value"`` fields of a ``Www-Authenticate`` header.

    Works with or without a leading scheme word: ``Bearer realm="...",service="..."``
    and ``realm="...",service="..."`` give the same dict (plus ``scheme`` when present).
    """
    fields = {key.lower(): value for key, value in _AUTH_FIELD.findall(header or "")}
    head = (header or "").strip().split(None, 1)
    if head and "=" not in head[0]:
        fields["scheme"] = head[0]
    return fields


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


def _error_class(status: int) -> type[HTTPStatusError]:
    if status in (401, 403):
        return AuthError
    if status == 404:
        return NotFoundError
    if status == 413:
        return PayloadTooLargeError
    if status >= 500:
        return ServerError
    return BadRequestError


def _dig(payload: Any, *keys: str, what: str) -> Any:
    """``payload[k1][k2]...`` or a MonitorError naming the missing field."""
    value = payload
    walked = []
    for key in keys:
        walked.append(key)
        if not isinstance(value, Mapping) or key not in value:
            raise MonitorError(
                f"{what}: the server's answer has no {'.'.join(walked)!r} "
                f"(got {json.dumps(payload)[:300]})"
            )
        value = value[key]
    return value


def read_spec_document(path: str | Path, *, within: str | Path | None = None) -> Any:
    """The parsed document of a spec file (JSON, YAML, clearsigned ``.sig``, gzip).

    Read under the upload rules of :mod:`~spackmon_analysis.localfiles`: at most
    ``MAX_FILE_BYTES``, decompressed to at most ``MAX_DECODED_BYTES``, and, with
    ``within`` (the install prefix it comes from), never through a symbolic link out of
    that folder; decoded and checked by
    :func:`~spackmon_analysis.spec.decode_spec_document`, the reader of ``load_spec``. A
    refused or malformed file raises :class:`SpecFormatError` naming it and the reason.
    """
    return _spec_file_document(path, within)


def _spec_file_document(path: str | Path, within: str | Path | None = None) -> Any:
    """The checked document of a spec file, read once under the upload rules."""
    from .spec import decode_spec_document

    doc, _graph = decode_spec_document(_spec_bytes(path, within), name=str(path))
    return doc


def _spec_bytes(path: str | Path, within: str | Path | None = None) -> bytes:
    """A spec file's bytes (gunzipped) under the upload rules; ``SpecFormatError`` naming
    the file when they refuse it or it cannot be read."""
    from .localfiles import UnsafeFileError, read_local

    try:
        return read_local(path, within)  # gunzipped (to at most MAX_DECODED_BYTES) when gzip
    except UnsafeFileError as exc:
        raise SpecFormatError(exc.reason, source=str(path)) from None
    except (gzip.BadGzipFile, EOFError) as exc:
        raise SpecFormatError(f"bad gzip data: {exc}", source=str(path)) from exc
    except OSError as exc:
        raise SpecFormatError(f"cannot read file: {exc.strerror or exc}", source=str(path)) from exc


def _looks_like_path(value: Any) -> bool:
    """A ``Path``, or a one-line string that is not JSON/YAML document text."""
    if isinstance(value, Path):
        return True
    if not isinstance(value, str):
        return False
    text = value.strip()
    return (
        bool(text)
        and "\n" not in text
        and not text.startswith(("{", "[", "-----"))
        and len(text) < 4096
    )


def _unwrap_upload_body(doc: Any) -> tuple[Any, str | None]:
    """``(spec document, spack_version)`` from an upload body ``{"spec", "spack_version"}``."""
    if isinstance(doc, Mapping) and "spack_version" in doc and "spec" in doc:
        version = doc.get("spack_version")
        return doc["spec"], version if isinstance(version, str) and version else None
    return doc, None


_DEFAULT_PORTS = {"http": 80, "https": 443}


def _origin(url: str, default_scheme: str = "http") -> tuple[str, str, int]:
    """``(scheme, host, port)`` of a URL (or of a bare ``host[:port]``), lower-cased."""
    text = url if "://" in url else f"{default_scheme}://{url}"
    parts = urlsplit(text)
    scheme = (parts.scheme or default_scheme).lower()
    try:
        port = parts.port
    except ValueError:
        port = None
    return scheme, (parts.hostname or "").lower(), port or _DEFAULT_PORTS.get(scheme, 0)


def _same_site(base: str, url: str) -> bool:
    """True when ``url`` is on the origin of ``base``, or is its upgrade from http to https
    on the same host with the default ports (what a server behind TLS redirects to)."""
    a, b = _origin(base), _origin(url)
    if a == b:
        return True
    return a == ("http", b[1], 80) and b == ("https", a[1], 443)


def _show_origin(url: str) -> str:
    scheme, host, port = _origin(url)
    if _DEFAULT_PORTS.get(scheme) == port:
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{port}"


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
        # connections that the total deadline of an exchange can end (see _Watchdog)
        self.poolmanager.pool_classes_by_scheme = {
            "http": _WatchedHTTPPool,
            "https": _WatchedHTTPSPool,
        }

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        if type(manager) is urllib3.ProxyManager:  # not SOCKS: it has its own pool classes
            manager.pool_classes_by_scheme = {
                "http": _WatchedHTTPPool,
                "https": _WatchedHTTPSPool,
            }
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


def _read_body(response: requests.Response, limit: int) -> None:
    """Read ``response.content``, refusing more than ``limit`` bytes on the wire or
    decoded (:class:`_TooLarge`); errors are mapped the way ``iter_content`` maps them,
    except that a read timeout stays a :class:`requests.exceptions.ReadTimeout`.

    A ``Content-Length`` over the cap is refused before anything is read. Decoding
    (gzip, deflate) goes 64 KiB at a time, so a small compressed bomb never expands
    beyond the cap in memory.
    """
    if response._content is not False:
        return
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _TooLarge(int(declared), declared=True, decoded=False)
    raw = response.raw
    chunks: list[bytes] = []
    total = 0
    if isinstance(raw, urllib3.response.HTTPResponse):
        encoded = response.headers.get("Content-Encoding", "identity").lower() != "identity"
        try:
            if declared.isdigit() and not encoded:
                chunks.append(raw.read(decode_content=True) or b"")  # at most `declared`
                total = len(chunks[0])
            else:
                while True:
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
    else:  # an injected session's own response object
        for chunk in response.iter_content(65536):
            total += len(chunk)
            if total > limit:
                raise _TooLarge(total, declared=False, decoded=False)
            chunks.append(chunk)
    response._content = b"".join(chunks)
    response._content_consumed = True


def _show_progress(flag: bool | None, default: bool | None) -> bool:
    """``flag`` if given, else the client's setting, else whether someone is watching."""
    if flag is not None:
        return bool(flag)
    if default is not None:
        return bool(default)
    return interactive()


def interactive() -> bool:
    """True in a Jupyter kernel or when stderr is a terminal (where progress bars help);
    False in pipes, log files and CI (where they only add carriage-return noise)."""
    ipython = sys.modules.get("IPython")
    if ipython is not None:
        try:
            shell = ipython.get_ipython()
        except Exception:  # noqa: BLE001 - any IPython oddity means "not a kernel"
            shell = None
        if shell is not None and getattr(shell, "kernel", None) is not None:
            return True  # a running Jupyter kernel: tqdm.auto draws a widget
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


class SpackMonitorClient:
    """A client of a Spack Monitor server (the reference spack-monitor, or ours).

    Args:
        host: scheme + host (+ port), e.g. ``http://127.0.0.1:5000``; default
            ``$SPACKMON_HOST``, else ``http://127.0.0.1``. A URL that already ends in the
            prefix (``http://127.0.0.1:5000/ms1/``, as ``spackmon serve`` prints it) is the
            same server: the prefix is not added twice. Without a host from either place, a
            refused connection is not retried (the error says to set ``SPACKMON_HOST``).
        prefix: the API prefix, ``ms1`` by default (a 302 from the server may move it).
        token: the user's 40-hex API token; default ``$SPACKMON_TOKEN``.
        username: default ``$SPACKMON_USER``.
        timeout: seconds to connect, and to wait for the next bytes of an answer; a
            write waits ``timeout`` + 1 s per MiB of its body.
        retries: extra attempts after a connection error or a 502/503/504 (and, for
            reads only, after a read timeout: a write is never resent after one).
        backoff: first pause between attempts in seconds, doubled each time.
        session: a ``requests.Session`` to use (the injection seam for tests and
            benchmarks); by default a pooled session owned by the client.
        progress: show tqdm progress bars (stderr) on long pulls and replays; default
            (``None``): only in Jupyter or when stderr is a terminal.
        deadline: total seconds for one exchange (sending, waiting, reading the whole
            answer); default ``None``: 4 x its read timeout. Enforced mid-read on the
            client's own session; with an injected session, between chunks of the body.
        max_response_bytes: the largest answer accepted, on the wire and decoded
            (default 256 MiB); a larger one raises
            :class:`~spackmon_analysis.errors.MonitorError` without being held.
        auth_hosts: origins (``https://auth.example.org``) or host names besides the
            server's own to which the Basic API token may be sent when a 401 names
            their realm; default ``$SPACKMON_AUTH_HOSTS`` (comma- or space-separated),
            else none: only the server's own origin.
        max_pages: the most pages one pull fetches (default 10,000); a pull that would
            need more raises :class:`~spackmon_analysis.errors.MonitorError`.
    """

    def __init__(
        self,
        host: str | None = None,
        prefix: str = DEFAULT_PREFIX,
        token: str | None = None,
        username: str | None = None,
        *,
        timeout: float = 30,
        retries: int = 3,
        backoff: float = 0.5,
        session: requests.Session | None = None,
        progress: bool | None = None,
        deadline: float | None = None,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        auth_hosts: Sequence[str] | None = None,
        max_pages: int = MAX_PAGES,
    ) -> None:
        #: True when neither ``host`` nor ``$SPACKMON_HOST`` named the server: a refused
        #: connection then fails at once (no retries) saying what to set.
        self.host_is_default = not (host or os.environ.get("SPACKMON_HOST"))
        host = host or os.environ.get("SPACKMON_HOST") or DEFAULT_HOST
        self.prefix = (prefix if prefix is not None else DEFAULT_PREFIX).strip("/")
        self.host = _split_host(host, self.prefix)
        self.token = token if token is not None else os.environ.get("SPACKMON_TOKEN")
        self.username = username if username is not None else os.environ.get("SPACKMON_USER")
        if retries < 0:
            raise ConfigError("retries must be >= 0")
        if deadline is not None and deadline <= 0:
            raise ConfigError("deadline must be > 0 seconds (or None for 4 x the timeout)")
        if max_response_bytes < 1:
            raise ConfigError("max_response_bytes must be >= 1")
        if max_pages < 1:
            raise ConfigError("max_pages must be >= 1")
        if auth_hosts is None:
            auth_hosts = os.environ.get("SPACKMON_AUTH_HOSTS", "").replace(",", " ").split()
        if isinstance(auth_hosts, str):
            auth_hosts = [auth_hosts]
        self.timeout = timeout
        self.deadline = deadline
        self.max_response_bytes = int(max_response_bytes)
        self.auth_hosts = tuple(auth_hosts)
        self.max_pages = int(max_pages)
        self.retries = int(retries)
        self.backoff = float(backoff)
        self.progress = progress
        self._owns_session = session is None
        if session is None:
            session = requests.Session()
            adapter = _ClientAdapter(pool_connections=4, pool_maxsize=16, max_retries=0)
            session.mount("http://", adapter)
            session.mount("https://", adapter)
        agent = session.headers.get("User-Agent")
        if not agent or str(agent).startswith("python-requests/"):  # requests' own default
            session.headers["User-Agent"] = f"spackmon-analysis/{__version__}"
        self.session = session
        #: Prepare requests directly (own session only; an injected session goes through
        #: ``Session.request`` so that its own settings all apply).
        self._fast_path = self._owns_session
        if self._owns_session:
            self._read_environment_settings()
        self.bearer: str | None = None
        #: How error messages say to set the host and credentials (see CLI_HINTS).
        self._hints = dict(LIBRARY_HINTS)
        self._lock = threading.Lock()
        self._auth_lock = threading.Lock()
        #: HTTP exchanges made (every attempt, redirect and token request counts).
        self.request_count = 0
        #: Times the token flow ran (first authentication plus re-authentications).
        self.auth_count = 0
        #: Attempts repeated after a connection error or a 502/503/504.
        self.retry_count = 0

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

    def __repr__(self) -> str:
        who = self.username or "anonymous"
        auth = "bearer held" if self.bearer else ("credentials set" if self.token else "no token")
        return f"<SpackMonitorClient {self.baseurl}/ user={who} ({auth})>"

    def close(self) -> None:
        """Close the pooled connections (when the client created its session)."""
        if self._owns_session:
            self.session.close()

    def __enter__(self) -> SpackMonitorClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

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
        """One exchange, with the retries of the module docstring.

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
                _read_body(response, self.max_response_bytes)
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
            if attempt and response.status_code in RETRY_STATUSES:
                response.retries_used = attempt  # type: ignore[attr-defined]
            return response

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
        """Send on the session's own adapter (and connection pool), skipping the per-request
        work of ``Session.send`` that the client does not use: proxy resolution (done once at
        construction), cookie extraction into the session's jar (the client sends no
        cookies), the redirect generator (redirects are handled by :meth:`_request`) and an
        empty hook dispatch. Response hooks set on ``session.hooks`` still run, and a
        ``send`` replaced on the session (or overridden by a subclass) is called instead.
        The answer's body is left unread (``stream``): :func:`_read_body` reads it."""
        session = self.session
        options = {
            "stream": True,
            "timeout": timeout if timeout is not None else self.timeout,
            "verify": session.verify,
            "cert": session.cert,
            "proxies": session.proxies,
        }
        if "send" in vars(session) or type(session).send is not requests.Session.send:
            # someone wraps Session.send (a test seam, a subclass): honour it
            return session.send(prepared, allow_redirects=False, **options)
        response = session.get_adapter(prepared.url).send(prepared, **options)
        if prepared.hooks.get("response"):
            response = dispatch_hook("response", prepared.hooks, response, **options)
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
        prepared._cookies = RequestsCookieJar()  # read by requests when a 3xx comes back
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

    def _request(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        params: Mapping[str, Any] | None = None,
    ) -> requests.Response:
        """A request under the ms1 base with redirects and the token flow handled.

        Returns a 2xx response; raises a typed :class:`MonitorError` otherwise. The
        bearer goes only to the server's own origin: a redirect elsewhere is followed
        for this request without it, and only a 302 on the same origin moves the base.
        """
        url = self._url(path)
        body = None if json_body is None else _encode_json(json_body, method, url)
        redirects = 0
        authenticated_for_this = False
        while True:
            headers = {"Accept": "application/json"}
            bearer = self.bearer
            if bearer and _same_site(self.host, url):
                headers["Authorization"] = f"Bearer {bearer}"
            response = self._send(method, url, body=body, params=params, headers=headers)
            status = response.status_code
            if status in (301, 302, 303, 307, 308):
                redirects += 1
                location = response.headers.get("Location")
                response.close()
                if not location:
                    raise RedirectError(
                        f"{method} {url} answered {status} without a Location header",
                        method=method,
                        url=url,
                        status_code=status,
                        response=response,
                    )
                if redirects > MAX_REDIRECTS:
                    raise RedirectError(
                        f"{method} {url}: more than {MAX_REDIRECTS} redirects (last to {location})",
                        method=method,
                        url=url,
                        status_code=status,
                        response=response,
                    )
                target = urljoin(url, location)
                if (
                    status == 302
                    and url.startswith(self.baseurl + "/")
                    and _same_site(self.host, target)
                ):
                    url = self._move_base(url, target)
                else:  # this request only (another origin never becomes the base)
                    url = target
                continue
            if status == 401 and not authenticated_for_this:
                self._authenticate(response, method, url, stale=bearer)
                authenticated_for_this = True
                continue
            if 200 <= status < 300:
                return response
            raise self._error(response, method, url)

    def _move_base(self, request_url: str, location: str) -> str:
        """Apply a 302 on the same origin: switch the prefix (and an http -> https upgrade
        of the host) for all later requests; return the new URL."""
        old_base = self.baseurl + "/"
        rest = request_url[len(old_base) :] if request_url.startswith(old_base) else ""
        rest = rest.split("?", 1)[0]
        parts = urlsplit(location)
        path = parts.path
        if rest and path.endswith("/" + rest):
            base_path = path[: -len(rest)]
        else:
            base_path = path
        with self._lock:
            new_host = f"{parts.scheme}://{parts.netloc}"
            if new_host != self.host and self._owns_session:
                self.host = new_host
                self._read_environment_settings()
            self.host = new_host
            self.prefix = base_path.strip("/")
        return self._url(rest)

    def _realm_allowed(self, realm: str) -> bool:
        """True when the Basic credentials may go to ``realm``: the server's own origin,
        or one named in ``auth_hosts`` (a URL names an origin, a bare name a host)."""
        if _same_site(self.host, realm):
            return True
        scheme, host, port = _origin(realm)
        for allowed in self.auth_hosts:
            text = str(allowed).strip().rstrip("/")
            if "://" in text or ":" in text:
                if _origin(text, default_scheme=scheme) == (scheme, host, port):
                    return True
            elif text.lower() == host:
                return True
        return False

    def _authenticate(
        self, challenge: requests.Response, method: str, url: str, stale: str | None
    ) -> None:
        """Run the token flow after a 401 (PROTOCOL section 3), one thread at a time."""
        with self._auth_lock:
            if self.bearer and self.bearer != stale:
                return  # another thread refreshed the bearer meanwhile: just retry
            self._token_flow(challenge, method, url)

    def _token_flow(self, challenge: requests.Response, method: str, url: str) -> None:
        if not (self.username and self.token):
            raise AuthError(
                f"{method} {url} needs credentials: {self._hints['credentials']}",
                method=method,
                url=url,
                status_code=401,
                server_message=_server_message(challenge),
                response=challenge,
            )
        header = challenge.headers.get("Www-Authenticate", "")
        fields = parse_www_authenticate(header)
        realm = fields.get("realm")
        if not realm:
            raise AuthError(
                f"{method} {url} answered 401 without a usable Www-Authenticate realm "
                f"(header: {header!r})",
                method=method,
                url=url,
                status_code=401,
                server_message=_server_message(challenge),
                response=challenge,
            )
        realm = urljoin(url, realm)
        if not self._realm_allowed(realm):
            raise AuthError(
                f"{method} {url} answered 401 naming the token realm {realm}, which is not "
                f"on the server's own origin ({_show_origin(self.host)}); the API token was "
                "not sent there. If that host really issues this server's tokens, name it "
                f"in auth_hosts= (e.g. auth_hosts=[{_show_origin(realm)!r}])",
                method=method,
                url=url,
                status_code=401,
                server_message=_server_message(challenge),
                response=challenge,
            )
        basic = base64.b64encode(f"{self.username}:{self.token}".encode()).decode("ascii")
        answer = self._send(
            "GET", realm, headers={"Authorization": f"Basic {basic}", "Accept": "application/json"}
        )
        if answer.status_code != 200:
            message = _server_message(answer)
            raise AuthError(
                f"authentication as {self.username!r} at {realm} failed "
                f"({answer.status_code}): {message}",
                method="GET",
                url=realm,
                status_code=answer.status_code,
                server_message=message,
                response=answer,
            )
        try:
            payload = answer.json()
        except ValueError:
            payload = None
        token = None
        if isinstance(payload, Mapping):
            token = payload.get("token") or payload.get("access_token")
        if not isinstance(token, str) or not token:
            raise AuthError(
                f"the token endpoint {realm} answered without a token "
                f"(expected 'token' or 'access_token')",
                method="GET",
                url=realm,
                status_code=answer.status_code,
                server_message=(answer.text or "")[:300],
                response=answer,
            )
        with self._lock:
            self.bearer = token
            self.auth_count += 1

    def _error(self, response: requests.Response, method: str, url: str) -> HTTPStatusError:
        status = response.status_code
        message = _server_message(response)
        cls = _error_class(status)
        text = f"{method} {url} -> {status}: {message}"
        retries = getattr(response, "retries_used", 0)
        if retries:
            text += f" (after {retries} retr{'y' if retries == 1 else 'ies'})"
        if cls is AuthError and status == 401:
            text += f" ({self._hints['credentials']})" if not (self.username and self.token) else ""
        return cls(
            text,
            method=method,
            url=url,
            status_code=status,
            server_message=message,
            response=response,
        )

    def _json(self, response: requests.Response) -> Any:
        try:
            return response.json()
        except ValueError as exc:
            request = response.request
            raise MonitorError(
                f"{request.method} {request.url} answered {response.status_code} "
                f"with a body that is not JSON: {(response.text or '')[:200]!r}",
                method=request.method,
                url=request.url,
                status_code=response.status_code,
                server_message=(response.text or "")[:500],
                response=response,
            ) from exc

    def _call(self, method: str, path: str, body: Any = None, **params: Any) -> Any:
        response = self._request(method, path, json_body=body, params=params or None)
        return self._json(response)

    # --------------------------------------------------------------- endpoints
    def service_info(self) -> dict[str, Any]:
        """``GET /ms1/``: the service description (public)."""
        return self._call("GET", "")

    def upload_specfile(self, filename: str | Path, spack_version: str | None = None) -> dict:
        """Upload a spec file (JSON, YAML, ``.sig``, gzip; any format era).

        The file is parsed locally first, so a malformed one raises
        :class:`~spackmon_analysis.errors.SpecFormatError` naming it before any
        request. ``spack_version`` defaults to the file's own (upload bodies carry it).
        Returns the server's envelope: ``data.spec`` and ``data.created`` (``code``
        201 when new, 200 when it already existed).
        """
        try:
            # read once, under the upload rules (localfiles); the document checked is sent
            doc = _spec_file_document(filename)
        except SpecFormatError as exc:
            raise _with_source(exc, filename) from exc
        return self._upload(doc, spack_version)

    def upload_spec(self, doc: Any, spack_version: str | None = None) -> dict:
        """Upload a spec document (a parsed ``dict``/``list``, JSON/YAML text, or a path).

        Validated with :func:`~spackmon_analysis.spec.load_spec` first; see
        :meth:`upload_specfile` for the answer.
        """
        from .spec import decode_spec_document

        if _looks_like_path(doc):
            return self.upload_specfile(doc, spack_version)
        doc, _graph = decode_spec_document(doc)  # text: the document checked is sent
        return self._upload(doc, spack_version)

    def _upload(self, doc: Any, spack_version: str | None) -> dict:
        spec, own_version = _unwrap_upload_body(doc)
        version = spack_version or own_version
        return self._call("POST", "specs/new/", {"spec": spec, "spack_version": version})

    def new_build(
        self,
        full_hash: str,
        spack_version: str | None = None,
        *,
        host_os: str | None = None,
        platform: str | None = None,
        host_target: str | None = None,
        hostname: str | None = None,
        kernel_version: str | None = None,
        tags: str | Iterable[str] | None = None,
        spec: Any = None,
        environment: Mapping[str, Any] | None = None,
    ) -> dict:
        """``POST /ms1/builds/new/``: get or create the build of ``full_hash`` here.

        The five environment fields come from the keyword arguments, else from
        ``environment`` (e.g. ``BuildRecord.environment()`` or an
        ``install_environment.json``). ``tags`` is a list or a comma-separated string;
        ``spec`` (a document, or a path) is imported by the server first. Returns the
        envelope: ``data.build.build_id``, ``data.build_created``.
        """
        env = dict(environment or {})
        body: dict[str, Any] = {
            "host_os": host_os or env.get("host_os"),
            "platform": platform or env.get("platform"),
            "host_target": host_target or env.get("host_target"),
            "hostname": hostname or env.get("hostname"),
            "kernel_version": kernel_version or env.get("kernel_version"),
            "spack_version": spack_version or env.get("spack_version"),
            "full_hash": full_hash,
        }
        if tags:
            body["tags"] = tags if isinstance(tags, str) else ",".join(tags)
        if spec is not None:
            if _looks_like_path(spec):
                spec = _spec_file_document(spec)
            else:
                from .spec import decode_spec_document

                spec, _graph = decode_spec_document(spec)
            body["spec"], _ = _unwrap_upload_body(spec)
        return self._call("POST", "builds/new/", body)

    def update_build(self, build_id: int, status: str) -> dict:
        """``POST /ms1/builds/update/``: set a build's status (SUCCESS, FAILED, ...)."""
        return self._call("POST", "builds/update/", {"build_id": build_id, "status": status})

    def update_phase(
        self, build_id: int, phase_name: str, status: str, output: str | None = None
    ) -> dict:
        """``POST /ms1/builds/phases/update/``: upsert one phase and its log output."""
        body = {"build_id": build_id, "phase_name": phase_name, "status": status, "output": output}
        return self._call("POST", "builds/phases/update/", body)

    def analyze(self, build_id: int, metadata: Mapping[str, Any]) -> dict:
        """``POST /ms1/analyze/builds/``: attach analyzer metadata (replaces earlier)."""
        return self._call("POST", "analyze/builds/", {"build_id": build_id, "metadata": metadata})

    def analyze_install(
        self, prefix: str | Path, *, build_id: int | None = None, tags: str | None = None
    ) -> dict:
        """Send an install prefix's ``.spack`` metadata as analyzer results.

        Reads environment variables (``spack-build-env.txt``), configure arguments
        and the install manifest; unless ``build_id`` is given, gets (or creates) the
        build first from the prefix's spec and ``install_environment.json``. Returns
        the analyze envelope with ``data.build``.
        """
        from .loaders.installs import read_install_prefix

        try:
            record = read_install_prefix(prefix)
        except InstallPrefixError as exc:
            given = Path(prefix)
            if given.is_file():
                raise InstallPrefixError(
                    "is a file, not an install prefix: pass the prefix directory (the one "
                    f"holding .spack/), its .spack folder or a spack-stage directory ({exc})",
                    path=str(prefix),
                ) from exc
            raise
        build = record.build
        if record.skipped:
            import warnings

            listed = "; ".join(f"{path}: {reason}" for path, reason in record.skipped)
            warnings.warn(
                f"analyze_install({str(prefix)!r}): left out {len(record.skipped)} file(s) "
                f"the upload rules refuse: {listed}",
                UserWarning,
                stacklevel=2,
            )
        if build_id is None:
            spec_doc = _install_spec_document(record.path)
            envelope = self.new_build(
                build.full_hash,
                build.spack_version,
                environment=build.environment(),
                tags=tags or (list(build.tags) or None),
                spec=spec_doc,
            )
            build_id = int(_dig(envelope, "data", "build", "build_id", what="builds/new"))
        metadata: dict[str, Any] = {
            "environment_variables": dict(build.environment_variables or {}),
            "install_files": record.install_files_absolute(),
        }
        if build.config_args is not None:
            metadata["config_args"] = build.config_args
        return self.analyze(build_id, metadata)

    def get_specs_by_name(self, name: str) -> Any:
        """``GET /ms1/specs/name/<name>/``: the specs with that package name (public).

        Returns the list of spec rows (the envelope's ``data.specs``); a server
        that answers a bare list or another shape gets its JSON passed through.
        A name that cannot be a package name (empty, or with a ``/`` such as Spack's
        ``name/hash`` syntax) raises :class:`~spackmon_analysis.errors.ConfigError`
        before any request.
        """
        if not isinstance(name, str) or not name.strip():
            raise ConfigError(f"get_specs_by_name({name!r}): give a package name such as 'zlib'")
        if "/" in name:
            head = name.split("/", 1)[0] or "zlib"
            raise ConfigError(
                f"get_specs_by_name({name!r}): a package name cannot contain '/' "
                f"(Spack's 'name/hash' syntax is not a name); pass the name alone, e.g. "
                f"{head!r}, and pick the spec by its full_hash in the rows"
            )
        try:
            payload = self._call("GET", f"specs/name/{quote(name, safe='')}/")
        except NotFoundError as exc:
            raise NotFoundError(
                f"{exc} (no specs named {name!r}, or the server has no specs/name/ route)",
                method=exc.method,
                url=exc.url,
                status_code=exc.status_code,
                server_message=exc.server_message,
                response=exc.response,
            ) from exc
        if isinstance(payload, Mapping) and "data" in payload:
            data = payload["data"]
            if isinstance(data, Mapping) and isinstance(data.get("specs"), list):
                return data["specs"]
            return data
        return payload

    # ------------------------------------------------------------------- pulls
    def pull(
        self, route: str, *, page_size: int = 1000, progress: bool | None = None, **filters: Any
    ) -> PaginatedPull:
        """A lazy, paginated view of data API route ``/api/<route>/`` with filters."""
        return PaginatedPull(
            self,
            route,
            filters,
            page_size=page_size,
            progress=_show_progress(progress, self.progress),
            max_pages=self.max_pages,
        )

    def builds(self, **filters: Any) -> PaginatedPull:
        """Builds (filters: ``status``, ``spec_name``, ``tag``, ``owner``, ``full_hash``)."""
        return self.pull("builds", **filters)

    def specs(self, **filters: Any) -> PaginatedPull:
        """Specs (filters: ``name``, ``full_hash``, ``spack_version``, ``is_root``)."""
        return self.pull("specs", **filters)

    def phases(self, **filters: Any) -> PaginatedPull:
        """Build phases (filters: ``build``, ``status``, ``name``; ``output=1`` adds the logs,
        which list pages leave out by default; :meth:`phase` fetches one phase whole)."""
        return self.pull("buildphases", **filters)

    def phase(self, phase_id: int) -> dict[str, Any]:
        """One build phase, whole (with its ``output``): ``GET /api/buildphases/<id>/``."""
        return self._json(self._request("GET", f"{self._api_url('buildphases')}{int(phase_id)}/"))

    def errors(self, **filters: Any) -> PaginatedPull:
        """Build-log errors (filters: ``build``, ``phase``)."""
        return self.pull("builderrors", **filters)

    def warnings(self, **filters: Any) -> PaginatedPull:
        """Build-log warnings (filters: ``build``, ``phase``)."""
        return self.pull("buildwarnings", **filters)

    def _api_url(self, route: str) -> str:
        return f"{self.host}/api/{route.strip('/')}/"

    # ------------------------------------------------------------------ replay
    def upload_local_save(
        self,
        dirname: str | Path | Sequence[str | Path],
        progress: bool | None = None,
        *,
        workers: int = 4,
    ) -> ReplaySummary:
        """Replay ``--monitor-save-local`` output to this server.

        ``dirname`` is a run directory, a directory of runs (``~/.spack/reports/
        monitor/``) or a list of either; runs go in timestamp order. Per run: specs,
        then each build from its own metadata file, then every phase and status file
        to the server id of its own build. Idempotent: a second replay creates
        nothing (:class:`ReplaySummary` says exactly what created, updated and present
        mean). A bad file is skipped and named in ``summary.problems``; the rest uploads.

        Each build is set to the state in its files, runs oldest first (the protocol
        carries no build time): replaying an older run after newer ones sets builds
        back to the older state, and a build's history (failed, then rebuilt) is
        replayed every time. Every such overwrite of an existing build is listed in
        ``summary.changes`` and noted at the end of ``repr(summary)``.
        Specs go one at a time; each build's requests (``builds/new``, its phases in
        order, then its status) form a chain, and up to ``workers`` chains run at once
        on the pooled connections, each starting as soon as a spec document holding its
        build is on the server (so they overlap later spec uploads). The first build of
        each build environment is answered before the others in it are sent.

        Raises:
            SaveLocalError: a path holds no save-local files.
            TransportError / AuthError: the server is unreachable (or went away
                mid-replay) or refuses the credentials. The message says what was
                uploaded and what was not, per run with file names; the exception carries
                ``summary`` (the partial summary), ``uploaded`` and ``not_uploaded`` (file
                paths). Running the same replay again uploads the rest, duplicating nothing.
        """
        from .loaders.savelocal import read_save_local

        paths = [dirname] if isinstance(dirname, str | Path) else list(dirname)
        runs = []
        for path in paths:
            runs.extend(read_save_local(path))
        runs.sort(key=_replay_order)
        summary = ReplaySummary(runs=[run.name for run in runs])
        total = sum(run.n_files for run in runs)
        bar = _progress_bar(total, "replay", _show_progress(progress, self.progress), unit="file")
        try:
            for run in runs:
                _Replayer(self, run, summary, bar, max(1, int(workers))).replay()
        except _FATAL_ERRORS as exc:
            raise _interrupted(exc, runs, summary) from exc
        finally:
            bar.close()
        return summary


def _run_files(run: Any) -> list[str]:
    """Every file of a save-local run, as paths (what a replay of it sends or skips)."""
    names = [name for _doc, _version, name in run.spec_documents]
    names += [run.build(key).source for key in run.build_documents]
    names += [phase.source for phase in run.phases]
    names += list(run.status_files.values())
    names += [name for name, _message in run.problems]
    return [str(Path(run.path) / name) for name in dict.fromkeys(names)]


def _interrupted(exc: MonitorError, runs: list[Any], summary: ReplaySummary) -> MonitorError:
    """The fatal error of a replay, re-raised with what was uploaded and what was not.

    Same class as ``exc`` (TransportError, AuthError or RedirectError) with ``summary``,
    ``uploaded`` and ``not_uploaded`` (file paths) attached.
    """
    done = summary._done
    skipped = {path for path, _message in summary.problems}
    uploaded, missing, lines = [], [], []
    for run in runs:
        files = _run_files(run)
        sent = [f for f in files if f in done]
        left = [f for f in files if f not in done and f not in skipped]
        uploaded += sent
        missing += left
        if left:
            shown = ", ".join(Path(f).name for f in left[:3]) + (", ..." if len(left) > 3 else "")
            lines.append(
                f"  {run.name}: {len(left)} of {len(files)} file(s) not uploaded ({shown})"
            )
        else:
            lines.append(f"  {run.name}: complete ({len(files)} file(s))")
    per_kind = ", ".join(
        f"{kind} {sum(summary.counts[kind][o] for o in ('created', 'updated', 'present'))}"
        for kind in KINDS
    )
    if not uploaded:
        message = (
            f"Replay stopped before anything was uploaded: {exc}\n"
            f"Nothing is on the server yet ({len(missing)} file(s) in {len(runs)} run(s) "
            "not uploaded); fix the cause and run the same replay again."
        )
    else:
        message = (
            f"Replay interrupted: {exc}\n"
            f"Uploaded (now on the server): {len(uploaded)} file(s): {per_kind}.\n"
            f"Not uploaded: {len(missing)} file(s)"
            + (f"; skipped as bad: {len(skipped)}" if skipped else "")
            + ".\nPer run:\n"
            + "\n".join(lines)
            + "\nRun the same replay again to upload the rest: nothing is duplicated."
        )
    new = type(exc)(
        message,
        method=exc.method,
        url=exc.url,
        status_code=exc.status_code,
        server_message=exc.server_message,
        response=exc.response,
    )
    new.summary = summary  # type: ignore[attr-defined]
    new.uploaded = uploaded  # type: ignore[attr-defined]
    new.not_uploaded = missing  # type: ignore[attr-defined]
    return new


def _short(exc: BaseException) -> str:
    text = str(exc)
    return text if len(text) <= 300 else text[:300] + "..."


def _with_source(exc: SpecFormatError, filename: str | Path) -> SpecFormatError:
    """``exc`` naming the file as the caller gave it (``sub/x.json``, not ``x.json``)."""
    given = str(filename)
    if exc.source in (None, given) or exc.source not in (Path(given).name, str(Path(given))):
        return exc
    return SpecFormatError(exc.reason, source=given, path=exc.path)


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


def _split_host(host: str, prefix: str) -> str:
    """``host`` as scheme://netloc[/path] without a trailing ``/`` or a trailing ``prefix``.

    ``http://127.0.0.1:5000/ms1/`` with prefix ``ms1`` is ``http://127.0.0.1:5000``; a path
    before the prefix (a server behind a reverse proxy at ``/monitor/ms1/``) is kept.
    """
    host = host.strip()
    if "://" not in host:
        host = "http://" + host
    host = host.rstrip("/")
    scheme_end = host.index("://") + 3
    path_start = host.find("/", scheme_end)
    if prefix and path_start != -1:
        head, _, last = host.rpartition("/")
        if last == prefix and len(head) >= scheme_end:
            host = head.rstrip("/")
    return host


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


def _replay_order(run: Any) -> tuple[int, float, str]:
    from .loaders.savelocal import _run_sort_key

    return _run_sort_key(run)


def _install_spec_document(prefix: Path) -> Any | None:
    for folder in (prefix / ".spack", prefix):
        for name in ("spec.json", "spec.yaml", "spec.json.gz"):
            candidate = folder / name
            if candidate.is_file():
                return read_spec_document(candidate, within=prefix)
    return None


class _NoBar:
    def update(self, n: int = 1) -> None:
        pass

    def set_postfix_str(self, text: str) -> None:
        pass

    def close(self) -> None:
        pass


def _progress_bar(total: int | None, desc: str, show: bool, unit: str = "it") -> Any:
    if not show:
        return _NoBar()
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit=unit, file=sys.stderr, leave=False)


KINDS = ("specs", "builds", "phases", "statuses")
#: The fields that make a build environment unique on the server (plus Spack's version).
ENVIRONMENT_KEY = (
    "host_os",
    "platform",
    "host_target",
    "hostname",
    "kernel_version",
    "spack_version",
)
OUTCOMES = ("created", "updated", "present", "skipped")
#: Builds listed by name in ``repr(ReplaySummary)``'s note (the rest are counted).
MAX_SHOWN_CHANGES = 20


@dataclass(frozen=True)
class BuildChange:
    """One piece of an existing build's server state that a replay overwrote.

    ``name`` is the package (``name@version``), ``build_id`` the server's build id,
    ``item`` ``"status"`` or ``"<phase> phase"``, ``before``/``after`` the status the
    server held and the one the replayed file set, ``run`` the run the file came from.
    """

    name: str
    build_id: int
    item: str
    before: str
    after: str
    run: str

    def __str__(self) -> str:
        return (
            f"{self.name} (build {self.build_id}): {self.item} {self.before} -> {self.after} "
            f"(run {self.run})"
        )


#: The note shown when a replay changed the state of builds already on the server.
CHANGE_NOTE = "a replay sets each build to the state in the files; replay runs oldest first"


@dataclass
class ReplaySummary:
    """What a save-local replay did, per kind of file.

    ``counts[kind][outcome]`` for kinds ``specs``, ``builds``, ``phases``,
    ``statuses``; per file, exactly one outcome:

    - ``created``: specs and builds the server answered 201 for (new rows); phases and
      statuses sent for a build that did not exist before this file's run, a phase the
      server did not have yet, or a status where the server held none (``NOTRUN``);
    - ``updated``: a phase or status of a build that already existed, that the server
      held with a **different** status and that the file overwrote (each one is listed
      in :attr:`changes`);
    - ``present``: already on the server: specs and builds answered 200 (get, not
      create); phases and statuses equal to the server's, so nothing was sent (or, when
      the data API could not be read, sent again as an idempotent upsert);
    - ``skipped``: a bad file, or a file whose build could not be created (named in
      ``problems``).

    The protocol carries no build time, so a replay sets each build to the state in its
    files, runs oldest first: replaying an older run after newer ones sets builds back
    to the older state, and replaying a build's history again (a failure, then the
    rebuild) reports those steps as ``updated`` every time. :attr:`changes` lists
    every such overwrite and ``repr(summary)`` (what ``spackmon replay`` prints) ends
    with a note naming the builds; ``str(summary)`` is the table alone.

    ``build_ids`` maps each local id (32-hex, or full hash in old runs) to the
    server's build id; ``problems`` lists ``(file path, message)``.
    """

    runs: list[str] = field(default_factory=list)
    counts: dict[str, dict[str, int]] = field(
        default_factory=lambda: {kind: dict.fromkeys(OUTCOMES, 0) for kind in KINDS}
    )
    build_ids: dict[str, int] = field(default_factory=dict)
    problems: list[tuple[str, str]] = field(default_factory=list)
    #: Every phase or status of an existing build that the replay overwrote, in run order.
    changes: list[BuildChange] = field(default_factory=list)
    _lock: Any = field(default_factory=threading.Lock, repr=False, compare=False)
    #: Paths of the files the server holds after this replay (for an interruption report).
    _done: set[str] = field(default_factory=set, repr=False, compare=False)

    def add(self, kind: str, outcome: str, n: int = 1, path: str | None = None) -> None:
        """Count ``n`` files of ``kind`` with ``outcome`` (thread-safe)."""
        with self._lock:
            self.counts[kind][outcome] += n
            if path is not None and outcome != "skipped":
                self._done.add(path)

    def _add_change(self, change: BuildChange) -> None:
        with self._lock:
            self.changes.append(change)

    @property
    def changed_builds(self) -> dict[str, list[BuildChange]]:
        """``"name (build id)" -> [BuildChange, ...]`` for every build whose server state
        this replay changed (the :attr:`changes` grouped by build, in run order)."""
        grouped: dict[str, list[BuildChange]] = {}
        for change in self.changes:
            grouped.setdefault(f"{change.name} (build {change.build_id})", []).append(change)
        return grouped

    @staticmethod
    def _describe(changes: list[BuildChange]) -> list[str]:
        """Lines for one build's changes (``item before -> after (run ...)``)."""
        lines = [f"{c.item} {c.before} -> {c.after} (run {c.run})" for c in changes]
        first: dict[str, str] = {}
        last: dict[str, str] = {}
        for c in changes:
            first.setdefault(c.item, c.before)
            last[c.item] = c.after
        if len(changes) > 1 and first == last:
            lines.append("ends as it was before the replay")
        return lines

    @property
    def change_note(self) -> str:
        """The warning shown when builds already on the server changed state ('' if none)."""
        n = len(self.changed_builds)
        if not n:
            return ""
        return f"{n} build{'s' if n != 1 else ''} changed state on the server: {CHANGE_NOTE}"

    def _total(self, outcome: str) -> int:
        return sum(self.counts[kind][outcome] for kind in KINDS)

    @property
    def created(self) -> dict[str, int]:
        """Created per kind."""
        return {kind: self.counts[kind]["created"] for kind in KINDS}

    @property
    def present(self) -> dict[str, int]:
        """Already present per kind."""
        return {kind: self.counts[kind]["present"] for kind in KINDS}

    @property
    def skipped(self) -> dict[str, int]:
        """Skipped per kind."""
        return {kind: self.counts[kind]["skipped"] for kind in KINDS}

    @property
    def total_created(self) -> int:
        """Everything created or updated on the server (0 for a repeated replay)."""
        return self._total("created") + self._total("updated")

    def __str__(self) -> str:
        """The table of counts, the build-id mapping and the problems."""
        return self._table()

    def __repr__(self) -> str:
        """The table, then (when the replay changed builds already on the server) a note
        naming each of them: ``name (build id): status FAILED -> SUCCESS, ...``."""
        text = self._table()
        note = self.change_note
        if not note:
            return text
        lines = [text, f"  NOTE: {note}:"]
        grouped = list(self.changed_builds.items())
        for build, changes in grouped[:MAX_SHOWN_CHANGES]:
            described = self._describe(changes)
            if len(described) == 1:
                lines.append(f"    {build}: {described[0]}")
            else:
                lines.append(f"    {build}:")
                lines.extend(f"      {line}" for line in described)
        if len(grouped) > MAX_SHOWN_CHANGES:
            lines.append(
                f"    ... and {len(grouped) - MAX_SHOWN_CHANGES} more (see summary.changes)"
            )
        return printable("\n".join(lines), keep="\n")

    def _table(self) -> str:
        n = len(self.runs)
        named = f": {', '.join(self.runs)}" if n <= 3 else ""
        lines = [f"Replay of {n} run{'s' if n != 1 else ''}{named}"]
        lines.append(f"  {'':9}" + "".join(f"{o:>9}" for o in OUTCOMES))
        for kind in KINDS:
            lines.append(f"  {kind:9}" + "".join(f"{self.counts[kind][o]:>9}" for o in OUTCOMES))
        lines.append(f"  builds mapped: {len(self.build_ids)} local id(s) -> server build ids")
        if self.problems:
            lines.append(f"  problems ({len(self.problems)}):")
            lines.extend(f"    {name}: {message}" for name, message in self.problems)
        else:
            lines.append("  problems: none")
        return printable("\n".join(lines), keep="\n")  # file names may hold control chars

    def _repr_html_(self) -> str:
        esc = html.escape
        head = "".join(f"<th>{o}</th>" for o in OUTCOMES)
        rows = "".join(
            f"<tr><th>{kind}</th>"
            + "".join(f"<td>{self.counts[kind][o]}</td>" for o in OUTCOMES)
            + "</tr>"
            for kind in KINDS
        )
        problems = ""
        if self.problems:
            items = "".join(
                f"<li><code>{esc(name)}</code>: {esc(message)}</li>"
                for name, message in self.problems
            )
            problems = f"<p>Problems ({len(self.problems)}):</p><ul>{items}</ul>"
        if self.change_note:
            items = "".join(
                f"<li>{esc(build)}: {esc('; '.join(self._describe(changes)))}</li>"
                for build, changes in self.changed_builds.items()
            )
            problems += f"<p><strong>Note</strong>: {esc(self.change_note)}:</p><ul>{items}</ul>"
        return (
            f"<div><strong>Replay of {len(self.runs)} run(s)</strong>: {esc(', '.join(self.runs))}"
            f"<table><thead><tr><th></th>{head}</tr></thead><tbody>{rows}</tbody></table>"
            f"<p>{len(self.build_ids)} local build id(s) mapped to server build ids.</p>"
            f"{problems}</div>"
        )


#: Errors that condemn one file, not the whole replay.
_FATAL_ERRORS = (TransportError, AuthError, RedirectError)


def _file_error(exc: BaseException) -> bool:
    """True for an error that condemns one file (the replay goes on), False for one
    that condemns the whole replay (no server, refused credentials, broken redirects)."""
    return isinstance(exc, MonitorError | SpecFormatError) and not isinstance(exc, _FATAL_ERRORS)


class _Stopped(Exception):
    """A chain found the replay stopped (a fatal error elsewhere) before sending."""


class _Replayer:
    """Replays one save-local run: specs, then each build's chain of requests.

    Specs go one at a time on the calling thread. Each build is one *chain* run on a
    worker thread: ``builds/new``, then (for a build that already existed) a read of
    its server state, then its phases in order, then its status. A chain starts as
    soon as a spec document holding its spec (same Spack version) is on the server, so
    builds, phases and statuses of early specs overlap the upload of later ones; the
    first build to start in a build environment goes alone until it has answered (it
    may create the environment row). Up to ``workers`` chains run at once.
    """

    def __init__(
        self, client: SpackMonitorClient, run: Any, summary: ReplaySummary, bar: Any, workers: int
    ):
        self.client = client
        self.run = run
        self.summary = summary
        self.bar = bar
        self.workers = workers
        self.base = str(Path(run.path))
        #: Set on a fatal error (or an interruption): chains not yet running send nothing.
        self.stop = threading.Event()
        self.env_lock = threading.Lock()
        #: Build environments the server holds (a builds/new in them answered).
        self.env_ready: set[tuple[str, ...]] = set()
        #: Build environments whose first builds/new is in flight -> set when it answers.
        self.env_busy: dict[tuple[str, ...], threading.Event] = {}

    def where(self, filename: str) -> str:
        if os.sep in filename or (os.altsep and os.altsep in filename):
            return str(Path(self.base) / filename)
        return os.path.join(self.base, filename)

    def problem(self, kind: str, filename: str, message: str) -> None:
        self.summary.problems.append((self.where(filename), message))
        if kind:
            self.summary.add(kind, "skipped")

    def replay(self) -> None:
        from .loaders.savelocal import _kind

        kind_names = {"spec": "specs", "build": "builds", "phase": "phases", "status": "statuses"}
        for filename, message in self.run.problems:
            self.problem(kind_names.get(_kind(filename) or "", ""), filename, message)
            self.bar.update(1)
        self.bar.set_postfix_str(printable(self.run.name, keep=""))
        first_change = len(self.summary.changes)
        first_problem = len(self.summary.problems)
        try:
            self.replay_files()
        finally:
            # chains run in parallel: list this run's changes and problems in a stable order
            # (changes by build; problems by file: specs, builds, phases, statuses)
            self.summary.changes[first_change:] = sorted(
                self.summary.changes[first_change:],
                key=lambda c: (c.name, c.build_id, c.item == "status", c.item),
            )
            if len(self.summary.problems) > first_problem:
                order = self.file_order()
                self.summary.problems[first_problem:] = sorted(
                    self.summary.problems[first_problem:],
                    key=lambda p: order.get(p[0], len(order)),
                )

    def file_order(self) -> dict[str, int]:
        run = self.run
        names = [name for _doc, _version, name in run.spec_documents]
        names += [run.build(key).source for key in run.build_documents]
        names += [phase.source for phase in run.phases]
        names += list(run.status_files.values())
        order: dict[str, int] = {}
        for index, name in enumerate(names):
            order.setdefault(self.where(name), index)
        return order

    def replay_files(self) -> None:
        run = self.run
        phases_by_build: dict[str, list[Any]] = {}
        for phase in run.phases:
            phases_by_build.setdefault(phase.build_key, []).append(phase)
        # Files of a build without a usable metadata file are skipped, by name (the reader
        # reports these already; this keeps every file with exactly one outcome).
        for key, phases in phases_by_build.items():
            if key not in run.build_documents:
                for phase in phases:
                    self.problem("phases", phase.source, f"skipped: build {key} was not created")
                    self.bar.update(1)
        for key, filename in run.status_files.items():
            if key not in run.build_documents:
                self.problem("statuses", filename, f"skipped: build {key} was not created")
                self.bar.update(1)

        waiting = self.spec_gates()
        pool = ThreadPoolExecutor(max_workers=self.workers)
        jobs: list[tuple[Any, int]] = []
        drained = 0

        def start(keys: list[str]) -> None:
            for key in keys:
                phases = phases_by_build.get(key, [])
                status_file = run.status_files.get(key)
                files = 1 + len(phases) + (status_file is not None)
                jobs.append((pool.submit(self.chain, key, phases, status_file), files))

        try:
            for index, (doc, version, filename) in enumerate(run.spec_documents):
                uploaded = self.upload_spec(doc, version, filename)
                ready = waiting.pop(index, [])
                if uploaded:
                    start(ready)
                else:  # that spec is not on the server: wait for all the others
                    waiting.setdefault(None, []).extend(ready)
                while drained < len(jobs) and jobs[drained][0].done():
                    self.bar.update(jobs[drained][1])
                    drained += 1
            order = {key: i for i, key in enumerate(run.build_documents)}
            start(sorted((k for keys in waiting.values() for k in keys), key=order.__getitem__))
            self.collect(jobs[drained:])
        except BaseException:
            self.stop.set()  # chains still queued send nothing; running ones stop early
            raise
        finally:
            pool.shutdown(wait=True)

    def spec_gates(self) -> dict[int | None, list[str]]:
        """Build keys by the index of the spec document whose upload lets them start
        (the first that holds the build's hash for the build's Spack version); ``None``:
        after every spec."""
        names = [name for _doc, _version, name in self.run.spec_documents]
        # run.specs and run.spec_documents are filled together by the reader
        aligned = len(self.run.specs) == len(names) and all(
            spec[2] == name for spec, name in zip(self.run.specs, names, strict=False)
        )
        waiting: dict[int | None, list[str]] = {}
        for key, body in self.run.build_documents.items():
            gate = None
            full_hash = body.get("full_hash") if isinstance(body, Mapping) else None
            version = body.get("spack_version") if isinstance(body, Mapping) else None
            if aligned and isinstance(full_hash, str) and isinstance(version, str):
                full_hash, version = full_hash.strip(), version.strip()
                for index, (graph, spec_version, _name) in enumerate(self.run.specs):
                    if spec_version == version and full_hash in graph:
                        gate = index
                        break
            waiting.setdefault(gate, []).append(key)
        return waiting

    def upload_spec(self, doc: Any, version: str | None, filename: str) -> bool:
        """Upload one spec file's document (validated by the reader); True when the server
        holds it."""
        try:
            envelope = self.client._upload(doc, version)
        except (MonitorError, SpecFormatError) as exc:
            if not _file_error(exc):
                raise
            self.problem("specs", filename, str(exc))
            self.bar.update(1)
            return False
        created = _created(envelope, "created")
        self.summary.add("specs", "created" if created else "present", 1, self.where(filename))
        self.bar.update(1)
        return True

    def chain(self, key: str, phases: list[Any], status_file: str | None) -> None:
        """One build's requests in order: builds/new, its phases, then its status."""
        try:
            if self.stop.is_set():
                return
            try:
                is_new = self.create_build(key)
            except _Stopped:
                return
            if is_new is None:
                for phase in phases:
                    self.problem("phases", phase.source, f"skipped: build {key} was not created")
                if status_file is not None:
                    self.problem("statuses", status_file, f"skipped: build {key} was not created")
                return
            state = None
            if not is_new:
                if self.stop.is_set():
                    return
                state = self.server_state(key)
            for phase in phases:
                if self.stop.is_set():
                    return
                self.send_phase(key, phase, state)
            if status_file is not None and not self.stop.is_set():
                self.send_status(key, status_file, state)
        except BaseException:
            self.stop.set()
            raise

    def create_build(self, key: str) -> bool | None:
        """``builds/new`` from the build's own metadata file: build_created, or None when
        the server rejected it (named in the problems)."""
        body = self.run.build_documents[key]
        env = tuple(
            str(body.get(name)) if isinstance(body, Mapping) else "" for name in ENVIRONMENT_KEY
        )
        mine = None  # set when this build is the first in its environment
        while True:
            with self.env_lock:
                if env in self.env_ready:
                    break
                gate = self.env_busy.get(env)
                if gate is None:
                    mine = self.env_busy[env] = threading.Event()
                    break
            gate.wait()
        answered = False
        try:
            if self.stop.is_set():
                raise _Stopped
            record = self.run.build(key)
            try:
                envelope = self.client._call("POST", "builds/new/", body)
                answered = True
                build_id = int(_dig(envelope, "data", "build", "build_id", what="builds/new"))
            except (MonitorError, SpecFormatError) as exc:
                if not _file_error(exc):
                    raise
                self.problem("builds", record.source, str(exc))
                return None
        finally:
            if mine is not None:
                with self.env_lock:
                    del self.env_busy[env]
                    if answered:
                        self.env_ready.add(env)
                mine.set()
        is_new = _created(envelope, "build_created")
        self.summary.build_ids[key] = build_id
        self.summary.add("builds", "created" if is_new else "present", 1, self.where(record.source))
        return is_new

    def collect(self, jobs: list[tuple[Any, int]]) -> None:
        first_fatal = None
        for job, files in jobs:
            try:
                job.result()
            except MonitorError as exc:  # transport/auth: stop after the running chains
                first_fatal = first_fatal or exc
            self.bar.update(files)
        if first_fatal is not None:
            raise first_fatal

    def server_state(self, key: str) -> tuple[dict[str, str] | None, str | None]:
        """What the server holds for an existing build: phase name -> status, status."""
        build_id = self.summary.build_ids[key]
        phases: dict[str, str] | None
        status: str | None = None
        try:
            rows = PaginatedPull(
                self.client, "buildphases", {"build": build_id, "output": 0}, progress=False
            )
            phases = {
                str(row.get("name")): str(row.get("status"))
                for row in rows
                if _same_id(row.get("build"), build_id)
            }
        except MonitorError as exc:
            if not _file_error(exc):
                raise
            phases = None
        record = self.run.build(key)
        try:
            rows = PaginatedPull(
                self.client, "builds", {"full_hash": record.full_hash}, progress=False
            )
            for row in rows:
                if _same_id(row.get("id", row.get("build_id")), build_id):
                    status = row.get("status")
        except MonitorError as exc:
            if not _file_error(exc):
                raise
            status = None
        return phases, status

    def send_phase(
        self, key: str, phase: Any, state: tuple[dict[str, str] | None, str | None] | None
    ) -> None:
        build_id = self.summary.build_ids[key]
        server_phases = state[0] if state else {}
        if server_phases is not None and server_phases.get(phase.name) == phase.status:
            self.summary.add("phases", "present", 1, self.where(phase.source))
            return
        try:
            self.client.update_phase(build_id, phase.name, phase.status, phase.output)
        except (MonitorError, SpecFormatError) as exc:
            if not _file_error(exc):
                raise
            self.problem("phases", phase.source, str(exc))
            return
        if server_phases is None:
            outcome = "present" if state is not None else "created"
        elif phase.name in server_phases:
            outcome = "updated"
            self.changed(key, f"{phase.name} phase", server_phases[phase.name], phase.status)
        else:
            outcome = "created"
        self.summary.add("phases", outcome, 1, self.where(phase.source))

    def send_status(
        self, key: str, filename: str, state: tuple[dict[str, str] | None, str | None] | None
    ) -> None:
        build_id = self.summary.build_ids[key]
        status = self.run.build(key).status
        server_status = state[1] if state else None
        if server_status == status:
            self.summary.add("statuses", "present", 1, self.where(filename))
            return
        try:
            self.client.update_build(build_id, status)
        except (MonitorError, SpecFormatError) as exc:
            if not _file_error(exc):
                raise
            self.problem("statuses", filename, str(exc))
            return
        fresh = state is None or server_status in (None, "NOTRUN")
        if not fresh:
            self.changed(key, "status", str(server_status), str(status))
        self.summary.add("statuses", "created" if fresh else "updated", 1, self.where(filename))

    def changed(self, key: str, item: str, before: str, after: str) -> None:
        """Note that this replay overwrote the server's state of an existing build."""
        record = self.run.build(key)
        name = record.spec_name or (record.full_hash or key)[:7]
        if record.spec_version:
            name = f"{name}@{record.spec_version}"
        change = BuildChange(name, self.summary.build_ids[key], item, before, after, self.run.name)
        self.summary._add_change(change)


def _created(envelope: Any, flag: str) -> bool:
    if isinstance(envelope, Mapping):
        data = envelope.get("data")
        if isinstance(data, Mapping) and isinstance(data.get(flag), bool):
            return data[flag]
        if isinstance(envelope.get("code"), int):
            return envelope["code"] == 201
    return False


def _same_id(value: Any, build_id: int) -> bool:
    try:
        return int(value) == int(build_id)
    except (TypeError, ValueError):
        return False


class PaginatedPull(Sequence):
    """A lazy, paginated view of one data API route (PyGithub ``PaginatedList`` style).

    ``len()`` reads ``count`` from the first page; indexing and iteration fetch pages
    of up to ``page_size`` rows (``limit``/``offset``) only when needed and cache them. A page
    may hold fewer rows than asked (the server bounds a page in bytes too): the next page
    starts after the last row received, until ``count`` rows have been read;
    :meth:`to_frame` builds a DataFrame. Long pulls show a tqdm bar on stderr unless
    ``progress=False``.

    Iteration ends after ``count`` rows (the first page's count stands), or, for a server
    that gives no count, at a short page; a pull that still has rows after ``max_pages``
    pages (default: the client's ``max_pages``) raises
    :class:`~spackmon_analysis.errors.MonitorError` instead of following a server that
    never stops.
    """

    def __init__(
        self,
        client: SpackMonitorClient,
        route: str,
        filters: Mapping[str, Any] | None = None,
        *,
        page_size: int = 1000,
        progress: bool = True,
        max_pages: int | None = None,
    ) -> None:
        if page_size < 1:
            raise ConfigError("page_size must be >= 1")
        if max_pages is None:
            max_pages = getattr(client, "max_pages", MAX_PAGES)
        if max_pages < 1:
            raise ConfigError("max_pages must be >= 1")
        self.max_pages = int(max_pages)
        self.client = client
        self.route = route.strip("/")
        self.filters = {k: _param(v) for k, v in (filters or {}).items() if v is not None}
        self.page_size = int(page_size)
        self.progress = progress
        self._pages: dict[int, list[dict[str, Any]]] = {}
        self._count: int | None = None
        #: True when ``_count`` is the server's ``count`` (not the first page's length).
        self._count_given = False

    @property
    def url(self) -> str:
        """The route's URL (without the query string)."""
        return self.client._api_url(self.route)

    def _fetch(self, offset: int) -> list[dict[str, Any]]:
        """The page of rows starting at row ``offset`` (cached by its offset)."""
        if offset in self._pages:
            return self._pages[offset]
        params = dict(self.filters, limit=self.page_size, offset=offset)
        response = self.client._request("GET", self.url, params=params)
        payload = self.client._json(response)
        if isinstance(payload, list):  # a server that ignores pagination
            rows, count = payload, len(payload)
            self._pages = {0: rows} if offset == 0 else self._pages
        else:
            rows = _dig(payload, "results", what=f"GET {self.url}")
            count = payload.get("count") if isinstance(payload, Mapping) else None
            if not isinstance(rows, list):
                raise MonitorError(f"GET {self.url}: 'results' is not a list")
        if isinstance(count, int) and not isinstance(count, bool) and count >= 0:
            if self._count is None or not self._count_given:
                self._count = count  # the first count stands: a growing one ends no pull
                self._count_given = True
        self._pages[offset] = rows
        return rows

    def __len__(self) -> int:
        if self._count is None:
            rows = self._fetch(0)
            if self._count is None:
                self._count = len(rows)
        return self._count

    def __getitem__(self, index: int | slice) -> Any:  # type: ignore[override]
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        n = len(self)
        if index < 0:
            index += n
        if not 0 <= index < n:
            raise IndexError(f"{self.route} index {index} out of range ({n} rows)")
        for start, rows in self._pages.items():
            if start <= index < start + len(rows):
                return rows[index - start]
        rows = self._fetch(index)
        if not rows:
            raise IndexError(f"{self.route} index {index}: the server returned fewer rows")
        return rows[0]

    def __iter__(self) -> Iterator[dict[str, Any]]:
        total = len(self)
        counted = self._count_given
        bar = _progress_bar(total, self.route, self.progress and total > self.page_size, unit="row")
        try:
            offset = 0
            pages = 0
            while True:
                if pages >= self.max_pages:
                    raise MonitorError(
                        f"GET {self.url}: the server still had rows after {self.max_pages:,} "
                        f"pages ({offset:,} rows"
                        + (f" of the {total:,} it counts" if counted else ", no count given")
                        + "); stopped at the page cap. Narrow the pull with filters or raise "
                        "max_pages=",
                        method="GET",
                        url=self.url,
                    )
                rows = self._fetch(offset)
                pages += 1
                if counted and offset + len(rows) > total:
                    rows = rows[: max(0, total - offset)]  # the server's own count ends it
                yield from rows
                offset += len(rows)
                bar.update(len(rows))
                if not rows:
                    break
                if counted and offset >= total:
                    break
                if not counted and len(rows) < self.page_size:
                    break
        finally:
            bar.close()

    @property
    def columns(self) -> list[str]:
        """The route's fields (:data:`ROUTE_COLUMNS`; empty for a route it does not know)."""
        columns = list(ROUTE_COLUMNS.get(self.route, ()))
        if self.route == "buildphases" and str(self.filters.get("output", "0")).lower() in (
            "0",
            "false",
            "no",
        ):  # list pages leave phase outputs out unless the pull asks for them (output=1)
            columns.remove("output")
        return columns

    def to_frame(self) -> Any:
        """All rows as a pandas DataFrame (columns in the server's order).

        A pull with no rows still has the route's columns (:attr:`columns`), so
        ``frame["status"]`` and friends work on an empty result too.
        """
        import pandas as pd

        rows = list(self)
        if not rows:
            return pd.DataFrame(columns=self.columns)
        return pd.DataFrame.from_records(rows)

    def __repr__(self) -> str:
        query = "&".join(f"{k}={v}" for k, v in self.filters.items())
        count = f"{self._count} rows" if self._count is not None else "not fetched yet"
        return f"<PaginatedPull {self.url}{'?' + query if query else ''} ({count})>"


def _param(value: Any) -> Any:
    if isinstance(value, bool):
        return int(value)
    return value
