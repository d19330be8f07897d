"""The FastAPI application: the ms1 protocol (PROTOCOL sections 1-3) and the ``/api/`` data API.

Request bodies are read raw and decoded as JSON whatever the Content-Type (Spack's urllib client
sends a form content type). Every write request runs in one database transaction; any refusal
raises :class:`~spackmon_analysis.server.ingest.RequestError` inside it, so the transaction rolls
back and the client gets ``{"message": ...}`` with a 4xx status. No bad input ever yields a 500.

No request stalls the others (docs/server.md, "Serving many clients"):

* a write is refused on its headers before its body is read when it can be (413 for a declared
  size over the limit, 401 for a missing or invalid bearer); a refused body is read and thrown
  away when it is small (the connection stays open) and not read at all otherwise (the
  connection is closed), so an unauthenticated body never occupies memory;
* the body is decoded, logs are parsed and the transaction runs in a worker thread
  (:data:`WRITE_THREADS`), never on the event loop; large bodies are decoded with the garbage
  collector paused and an object hook that lets the loop's thread in between objects, so
  ``GET /ms1/`` and the data API keep answering while a 100 MiB upload is processed;
* a write waits at most ``db_wait`` seconds in all for the write lock and the database (another
  server or process holding SQLite's lock, a PostgreSQL row or table lock); then it answers
  503 with ``Retry-After``. Reads wait at most as long and answer the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any
from urllib.parse import urlencode

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response, StreamingResponse
from sqlalchemy import Connection, select
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from .. import __version__
from ..spec.graph import _no_gc
from . import ingest, validate
from .auth import FailureLimiter, Identity, TokenIssuer, header_problem
from .ingest import RequestError
from .queries import (
    MAX_PAGE_BYTES,
    ROUTES,
    apply_filters,
    iter_rows,
    read_one,
    read_page,
    stream_phase,
)
from .tables import Store, set_lock_wait, specs

__all__ = ["create_app", "DEFAULT_MAX_BODY_SIZE", "MAX_PAGE_SIZE", "DEFAULT_DB_WAIT"]

#: Largest request body accepted by default (bytes, 100 MiB); larger bodies get 413.
DEFAULT_MAX_BODY_SIZE = 100 * 1024 * 1024
#: Largest ``limit`` of one data API page.
MAX_PAGE_SIZE = 100_000
DEFAULT_PAGE_SIZE = 10
#: Longest total wait of one request for the write lock and the database (seconds); then 503.
DEFAULT_DB_WAIT = 15.0
#: A refused write's body of at most this many bytes is read and discarded (the connection stays
#: open for the next request); a larger or chunked one is not read and the connection is closed.
DRAIN_LIMIT = 1 << 20
#: Threads that decode bodies and run write transactions (transactions are serialised by a lock;
#: a second thread decodes the next body meanwhile).
WRITE_THREADS = 2
#: Bodies larger than this are decoded with the garbage collector paused and an object hook.
_BIG_BODY = 1 << 20
#: The answer to an unexpected server error (the details go to the log, never to the client).
INTERNAL_ERROR = "Internal server error; the details are in the server log."
TOO_DEEP = (
    f"The request body is nested too deeply (more than {ingest.MAX_JSON_DEPTH} levels of arrays "
    "and objects)."
)

log = logging.getLogger("spackmon_analysis.server")


def _json(data: Any, status: int = 200, headers: dict | None = None) -> Response:
    body = validate.dumps(data)
    return Response(body, status_code=status, media_type="application/json", headers=headers)


def _error(status: int, message: str, headers: dict | None = None) -> Response:
    return _json({"message": message, "code": status}, status, headers)


def _raw(status: int, data: Any, headers: list | None = None) -> tuple[int, bytes, list]:
    return status, validate.dumps(data), headers or []


class _FastPath:
    """Pure-ASGI front for the hot ms1 endpoints (everything else goes to FastAPI)."""

    def __init__(
        self,
        app: Any,
        *,
        paths: frozenset,
        serve_write: Callable,
        info: bytes,
        info_path: str,
    ):
        self.app = app
        self.paths = paths
        self.serve_write = serve_write
        self.info = info
        self.info_path = info_path

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path, method = scope["path"], scope["method"]
        if method == "POST" and path in self.paths:
            headers = dict(scope["headers"])
            host = headers.get(b"host")
            server = scope.get("server") or ("127.0.0.1", 80)
            base_host = host.decode("latin-1") if host else f"{server[0]}:{server[1]}"
            base = f"{scope.get('scheme', 'http')}://{base_host}{path[: path.index('/', 1)]}"
            answer = await self.serve_write(path, headers, base, receive)
            if answer is None:  # the client went away
                return
            await _send(send, *answer)
        elif method == "GET" and path == self.info_path:
            await _send(send, 200, self.info, [])
        else:
            await self.app(scope, receive, send)


class MonitorApp(FastAPI):
    """FastAPI with the ms1 hot paths answered before FastAPI's middleware stack and routing."""

    fast: _FastPath | None = None

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] == "http":
            problem = header_problem(scope["headers"])  # on every route, before anything else
            if problem is not None:
                await _send(send, *_raw(400, {"message": problem, "code": 400}), close=True)
                return
        if self.fast is not None:
            await self.fast(scope, receive, send)
        else:
            await super().__call__(scope, receive, send)


def _too_large(limit: int, length: int | None = None) -> tuple[int, bytes, list]:
    size = f"of {length} bytes" if length is not None else f"larger than {limit} bytes"
    message = f"Request body {size} exceeds the limit of {limit} bytes."
    return _raw(413, {"message": message, "code": 413})


async def _send(send: Callable, status: int, body: bytes, extra: list, close: bool = False) -> None:
    # ``close``: the request body was not read to its end, so the connection cannot be reused.
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *([(b"connection", b"close")] if close else []),
                *extra,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class _Busy(RequestError):
    """The database (or the write lock) stayed busy past the request's wait budget: 503."""

    def __init__(self, message: str, retry_after: str):
        super().__init__(503, message)
        self.retry_after = retry_after


def _is_lock_wait(exc: Exception) -> bool:
    """Whether a database error is a lock wait that ran out (worth a later retry)."""
    orig = getattr(exc, "orig", exc)
    if getattr(orig, "sqlstate", None) in ("55P03", "40001", "40P01", "57014"):
        return True  # lock_not_available, serialization failure, deadlock, statement timeout
    text = str(orig).lower()
    return "database is locked" in text or "database is busy" in text or "lock timeout" in text


def _same(obj: dict) -> dict:
    """An ``object_hook`` that changes nothing: calling it lets other threads run."""
    return obj


async def _drain(receive: Callable, limit: int) -> bool:
    """Read and discard a request body of at most ``limit`` bytes; False when the client went
    away or sent more."""
    total = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return False
        total += len(message.get("body", b""))
        if total > limit:
            return False
        if not message.get("more_body", False):
            return True


def create_app(
    db_url: str | None = None,
    *,
    token_lifetime: int = 6000,
    max_body_size: int = DEFAULT_MAX_BODY_SIZE,
    prefix: str = "ms1",
    store: Store | None = None,
    environment: str = "production",
    fast_path: bool = True,
    auth_failure_limit: int = 10,
    auth_failure_window: float = 60.0,
    max_page_bytes: int = MAX_PAGE_BYTES,
    db_wait: float = DEFAULT_DB_WAIT,
) -> FastAPI:
    """Build the monitor application over the database at ``db_url``.

    ``db_url`` defaults to ``$SPACKMON_DB`` or a SQLite file in the user's data directory; the
    schema is created on first use (:class:`SchemaVersionError` if the database carries another
    version). ``token_lifetime`` is the bearer token lifetime in seconds, ``max_body_size`` the
    largest accepted request body in bytes, ``prefix`` the protocol prefix (``ms1``).
    ``fast_path`` serves the five protected writes and service info from a thin ASGI layer in
    front of FastAPI's routing (same handlers, same answers; about twice the throughput).
    ``auth_failure_limit`` failed token requests from one address within ``auth_failure_window``
    seconds make the token endpoint answer 429 with ``Retry-After`` (0 disables the limit).
    ``max_page_bytes`` bounds the results of one data API page (and one chunk of ``/all/``).
    ``db_wait`` bounds, in seconds, how long one request waits in all for the write lock and
    the database (SQLite's lock held by another process or server, a PostgreSQL lock); then it
    answers 503 with ``Retry-After`` and nothing is written.
    """
    if not (isinstance(db_wait, int | float) and math.isfinite(db_wait) and db_wait > 0):
        raise ValueError(f"db_wait must be a number of seconds > 0, got {db_wait!r}")
    store = store or Store.open(db_url)
    issuer = TokenIssuer(store, token_lifetime)
    limiter = FailureLimiter(auth_failure_limit, auth_failure_window)
    started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    created = store.created_at()
    base_path = "/" + prefix.strip("/")

    app = MonitorApp(
        title="Spack Monitor (spackmon-analysis)",
        version=__version__,
        description=(
            "The ms1 Spack Monitor protocol (for `spack install --monitor`) and a read-only "
            "data API under /api/. See docs/server.md."
        ),
        docs_url="/api/docs",
        openapi_url="/api/openapi.json",
        redoc_url=None,
    )
    app.state.store = store
    app.state.issuer = issuer
    app.state.limiter = limiter

    # ---------------------------------------------------------------- error handlers
    @app.exception_handler(RequestError)
    async def _request_error(_request: Request, exc: RequestError) -> Response:
        return _json(exc.body(), exc.status)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_request: Request, exc: RequestValidationError) -> Response:
        parts = []
        for err in exc.errors():
            loc = ".".join(str(p) for p in err.get("loc", ()))
            parts.append(f"{loc}: {err.get('msg')}")
        return _error(400, "Invalid request: " + "; ".join(parts))

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_request: Request, exc: StarletteHTTPException) -> Response:
        message = exc.detail if isinstance(exc.detail, str) else json.dumps(exc.detail)
        return _error(exc.status_code, message, getattr(exc, "headers", None))

    @app.exception_handler(OperationalError)
    async def _database_busy(request: Request, exc: OperationalError) -> Response:
        if _is_lock_wait(exc):
            return _error(
                503,
                f"The database stayed busy for {db_wait:g} s; try again.",
                {"Retry-After": str(max(1, math.ceil(db_wait)))},
            )
        log.error("database error answering %s %s: %s", request.method, request.url.path, exc)
        return _error(503, "The database is unreachable; the details are in the server log.")

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        log.error(
            "unexpected error answering %s %s",
            request.method,
            request.url.path,
            exc_info=(type(exc), exc, exc.__traceback__),
        )
        return _error(500, INTERNAL_ERROR)

    # ---------------------------------------------------------------- the write path
    def challenge(base: str, why: str) -> tuple[int, bytes, list]:
        header = f'Bearer realm="{base}/auth/token/",service="{base}",scope="build"'
        return _raw(401, {"message": why, "code": 401}, [(b"www-authenticate", header.encode())])

    def decode_body(raw: bytes) -> Any:
        if len(raw) > max_body_size:
            raise RequestError(
                413, f"Request body of {len(raw)} bytes exceeds the limit of {max_body_size} bytes."
            )
        if not raw.strip():
            raise RequestError(400, "The request body is empty; a JSON object is required.")
        # the rules of validate.py (NaN, NUL, surrogates); for a large body an object hook that
        # lets the event loop's thread in between objects (json.loads holds the interpreter for
        # the whole document otherwise)
        return validate.decode_json(raw, object_hook=_same if len(raw) > _BIG_BODY else None)

    # Writes are serialised through one long-lived connection, used by the worker threads one
    # at a time under ``write_lock``: no pool checkout per request.
    held: dict[str, Connection | None] = {"conn": None}
    write_lock = threading.Lock()
    set_lock_wait(store, db_wait)
    retry_after = str(max(1, math.ceil(db_wait)))
    write_pool = ThreadPoolExecutor(max_workers=WRITE_THREADS, thread_name_prefix="spackmon-write")

    def busy(what: str) -> _Busy:
        return _Busy(
            f"The database stayed busy for {db_wait:g} s ({what}); nothing was written, "
            f"try again in {retry_after} s.",
            retry_after,
        )

    def _drop_connection() -> None:
        conn = held["conn"]
        held["conn"] = None
        if conn is not None:
            try:
                conn.invalidate()
                conn.close()
            except Exception:  # noqa: BLE001 - a broken connection may fail to close
                pass

    def transaction(fn: Callable[[Connection], Any], deadline: float | None = None) -> Any:
        """Run ``fn`` in one write transaction, retrying on a unique-key race or a busy database.

        The waits for the write lock and the database end at ``deadline`` (``time.monotonic``;
        default ``db_wait`` from now): then :class:`_Busy` (503 with ``Retry-After``).
        """
        if deadline is None:
            deadline = time.monotonic() + db_wait
        if not write_lock.acquire(timeout=max(0.0, deadline - time.monotonic())):
            raise busy("other writes held the write lock")
        try:
            attempts = 5
            for attempt in range(attempts):
                conn = held["conn"]
                if conn is None or conn.closed:
                    conn = held["conn"] = store.write.connect()
                try:
                    with conn.begin():
                        return fn(conn)
                except IntegrityError as exc:
                    if attempt == attempts - 1:
                        raise RequestError(
                            409, f"Conflicting concurrent update: {exc.orig}"
                        ) from None
                except OperationalError as exc:
                    _drop_connection()
                    pause = 0.05 * (attempt + 1)
                    if _is_lock_wait(exc):
                        if time.monotonic() + pause >= deadline:
                            raise busy(f"{exc.orig}".strip()) from None
                    elif attempt == attempts - 1:
                        raise RequestError(
                            503, f"The database is busy or unreachable, try again: {exc.orig}"
                        ) from None
                    time.sleep(pause)
                except DBAPIError as exc:  # e.g. a value the database cannot hold
                    if exc.connection_invalidated:
                        _drop_connection()
                    raise RequestError(
                        400, f"The database rejected the request: {exc.orig}"
                    ) from None
                except BaseException:
                    if conn.invalidated:
                        _drop_connection()
                    raise
            raise busy("lock waits")
        finally:
            write_lock.release()

    def close_writer() -> None:
        write_pool.shutdown(wait=False, cancel_futures=True)
        _drop_connection()

    app.state.close_writer = close_writer

    def do_specs_new(conn: Connection, body: Any, _ident: Identity) -> tuple[str, Any, int]:
        status, data = ingest.new_spec(conn, body)
        return "success", data, status

    def do_builds_new(conn: Connection, body: Any, ident: Identity) -> tuple[str, Any, int]:
        status, data = ingest.new_build(conn, body, ident.user_id)
        return "Build get or create was successful.", data, status

    def do_builds_update(conn: Connection, body: Any, ident: Identity) -> tuple[str, Any, int]:
        return "Status updated", ingest.update_build(conn, body, ident.user_id), 200

    def do_phase(conn: Connection, body: Any, ident: Identity) -> tuple[str, Any, int]:
        data = ingest.update_phase(conn, body, ident.user_id)
        return f"Phase {data['build_phase']['name']} was successfully updated.", data, 200

    def do_analyze(conn: Connection, body: Any, ident: Identity) -> tuple[str, Any, int]:
        return "Metadata updated", ingest.analyze_build(conn, body, ident.user_id), 200

    writers = {
        base_path + "/specs/new/": do_specs_new,
        base_path + "/builds/new/": do_builds_new,
        base_path + "/builds/update/": do_builds_update,
        base_path + "/builds/phases/update/": do_phase,
        base_path + "/analyze/builds/": do_analyze,
    }

    def refuse_bearer(authorization: str | None, base: str) -> tuple[int, bytes, list] | None:
        """The 401 challenge when ``authorization`` is no valid bearer, else None."""
        if issuer.verify_bearer(authorization) is not None:
            return None
        why = (
            "Authentication credentials were not provided."
            if not authorization
            else "The bearer token is invalid or expired; authenticate again."
        )
        return challenge(base, why)

    def run_write(
        path: str, ident: Identity, raw: bytes | list, deadline: float | None = None
    ) -> tuple[int, bytes, list]:
        """Decode ``raw`` and run the write of ``path`` -> (status, JSON body, extra headers).

        ``raw`` may be a one-item list, emptied here: the body's bytes are then freed as soon as
        they are decoded."""
        if isinstance(raw, list):
            raw = raw.pop()
        # A large body is decoded and written with the cyclic garbage collector paused: its
        # millions of objects would make one full collection hold the interpreter for seconds
        # (a 200,000-node spec: 1.2 s), stalling every other request. They are freed by
        # reference counting when the write ends.
        paused = _no_gc() if len(raw) > _BIG_BODY else contextlib.nullcontext()
        try:
            try:
                with paused:
                    held_body = [decode_body(raw)]
                    raw = b""
                    message, data, status = transaction(
                        lambda conn: writers[path](conn, held_body[0], ident), deadline
                    )
                    held_body.clear()  # freed before the collector runs again
            except _Busy as exc:
                return _raw(
                    503,
                    {"message": exc.message, "code": 503},
                    [(b"retry-after", exc.retry_after.encode())],
                )
            except RequestError as exc:
                return _raw(exc.status, exc.body())
            except RecursionError:  # rolled back; e.g. a spec document too deep for the reader
                return _raw(400, {"message": TOO_DEEP, "code": 400})
            return _raw(status, {"message": message, "data": data, "code": status})
        except Exception:  # noqa: BLE001 - answer JSON, never an HTML 500
            log.exception("unexpected error answering POST %s", path)
            return _raw(500, {"message": INTERNAL_ERROR, "code": 500})

    def handle_write(
        path: str, authorization: str | None, base: str, raw: bytes
    ) -> tuple[int, bytes, list]:
        """One protected write request -> (status, JSON body, extra headers) (synchronous)."""
        ident = issuer.verify_bearer(authorization)
        if ident is None:
            return refuse_bearer(authorization, base)  # type: ignore[return-value]
        return run_write(path, ident, raw)

    async def serve_write(
        path: str, headers: dict[bytes, bytes], base: str, receive: Callable
    ) -> tuple[int, bytes, list, bool] | None:
        """A write request from its headers and ASGI ``receive`` -> (status, body, headers,
        close), or None when the client went away. Cheap refusals come before the body."""
        length = headers.get(b"content-length", b"")
        declared = int(length) if length.isdigit() else None
        if declared is not None and declared > max_body_size:
            return (*_too_large(max_body_size, declared), True)
        auth = headers.get(b"authorization")
        authorization = auth.decode("latin-1") if auth else None
        ident = issuer.verify_bearer(authorization)
        if ident is None:
            refusal = refuse_bearer(authorization, base)
            if declared is None or declared > DRAIN_LIMIT:
                return (*refusal, True)  # type: ignore[misc]
            if not await _drain(receive, DRAIN_LIMIT):
                return (*refusal, True)  # type: ignore[misc]
            return (*refusal, False)  # type: ignore[misc]
        # Count bytes as they arrive (a chunked body has no Content-Length): refuse as soon as the
        # limit is passed, without reading or holding the rest.
        chunks = []
        total = 0
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            chunk = message.get("body", b"")
            total += len(chunk)
            if total > max_body_size:
                chunks.clear()
                return (*_too_large(max_body_size), True)
            chunks.append(chunk)
            more = message.get("more_body", False)
        box = [chunks[0] if len(chunks) == 1 else b"".join(chunks)]
        chunks.clear()
        deadline = time.monotonic() + db_wait
        loop = asyncio.get_running_loop()
        try:
            answer = await loop.run_in_executor(write_pool, run_write, path, ident, box, deadline)
        except RuntimeError:  # the pool was shut down: the server is stopping
            answer = _raw(503, {"message": "The server is shutting down.", "code": 503})
        return (*answer, False)

    def base_of(scheme: str, host: str | None, fallback: str) -> str:
        return f"{scheme}://{host or fallback}{base_path}"

    async def write_route(request: Request) -> Response:
        base = base_of(request.url.scheme, request.headers.get("host"), request.url.netloc)
        headers = {k.lower(): v for k, v in request.headers.raw}
        answer = await serve_write(request.url.path, headers, base, request.receive)
        if answer is None:
            return Response(b"", status_code=400)  # nobody is listening any more
        status, body, extra, close = answer
        out = {k.decode(): v.decode() for k, v in extra}
        if close:
            out["Connection"] = "close"
        return Response(body, status_code=status, media_type="application/json", headers=out)

    app.state.handle_write = handle_write

    # ---------------------------------------------------------------- ms1
    @app.get(base_path, include_in_schema=False)
    async def _redirect() -> Response:
        return RedirectResponse(base_path + "/", status_code=301)

    info_body = json.dumps(
        {
            "id": "spackmon",
            "status": "running",
            "name": "Spack Monitor (Spackmon)",
            "description": "This service provides a database to monitor spack builds.",
            "organization": {"name": "spack", "url": "https://github.com/spack"},
            "contactUrl": "https://github.com/spack/spack-monitor/issues",
            "documentationUrl": "https://spack-monitor.readthedocs.io",
            "createdAt": created,
            "updatedAt": started,
            "environment": environment,
            "version": __version__,
            "auth_instructions_url": "https://spack-monitor.readthedocs.io/en/latest/getting_started/auth.html",
        }
    ).encode()

    @app.get(base_path + "/", summary="Service info", tags=["ms1"])
    async def service_info() -> Response:
        return Response(info_body, media_type="application/json")

    @app.get(
        base_path + "/auth/token/",
        summary="Exchange Basic user:token for a bearer token",
        tags=["ms1"],
    )
    async def auth_token(request: Request) -> Response:
        address = request.client.host if request.client else "unknown"
        wait = limiter.retry_after(address)
        if wait is not None:
            return _error(
                429,
                f"Too many failed authentication attempts from {address}; retry after {wait} s.",
                {"Retry-After": str(wait)},
            )
        header = request.headers.get("authorization")
        if not header:
            return _error(403, "Basic authentication with a username and API token is required.")
        ident = await run_in_threadpool(issuer.check_basic, header)
        if ident is None:
            limiter.failed(address)
            return _error(403, "Invalid username or token.")
        return _json(issuer.issue(ident))

    for path, summary in (
        ("/specs/new/", "Upload a spec DAG: body {spec, spack_version}"),
        (
            "/builds/new/",
            "Get or create a build: body {host_os, platform, host_target, hostname, kernel_version, spack_version, full_hash, [tags], [spec]}",
        ),
        ("/builds/update/", "Set a build's status: body {build_id, status}"),
        (
            "/builds/phases/update/",
            "Upsert a build phase: body {build_id, phase_name, status, output}",
        ),
        ("/analyze/builds/", "Attach analyzer metadata: body {build_id, metadata}"),
    ):
        app.add_api_route(
            base_path + path,
            write_route,
            methods=["POST"],
            summary=summary,
            tags=["ms1"],
            description="Bearer-protected (see /auth/token/). The body is JSON whatever the Content-Type.",
        )
    if fast_path:
        app.fast = _FastPath(
            partial(FastAPI.__call__, app),
            paths=frozenset(writers),
            serve_write=serve_write,
            info=info_body,
            info_path=base_path + "/",
        )

    def envelope(message: str, data: Any, status: int) -> Response:
        return _json({"message": message, "data": data, "code": status}, status)

    @app.get(
        base_path + "/specs/name/{name}/", summary="All specs of one package name", tags=["ms1"]
    )
    def specs_by_name(name: str) -> Response:
        if "\x00" in name:  # PostgreSQL text cannot hold NUL: no spec has this name
            return envelope("success", {"specs": []}, 200)
        with store.read.connect() as conn:
            rows = conn.execute(
                select(specs).where(specs.c.name == name).order_by(specs.c.id)
            ).all()
        route = ROUTES["specs"]
        return envelope("success", {"specs": [route.row(r) for r in rows]}, 200)

    # ---------------------------------------------------------------- data API
    def parse_query(
        request: Request, route_name: str, with_output: bool = True
    ) -> tuple[dict, bool]:
        if route_name not in ROUTES:
            raise RequestError(
                404, f"Unknown data API route {route_name!r}; routes: {', '.join(ROUTES)}"
            )
        filters = {}
        for key, value in request.query_params.multi_items():
            if key in ("limit", "offset", "format"):
                continue
            if key == "output" and route_name == "buildphases":
                with_output = value.strip().lower() not in ("0", "false", "no")
                continue
            filters[key] = value
        return filters, with_output

    def parse_query_route(route_name: str) -> None:
        if route_name not in ROUTES:
            raise RequestError(
                404, f"Unknown data API route {route_name!r}; routes: {', '.join(ROUTES)}"
            )

    def int_param(request: Request, key: str, default: int, low: int, high: int) -> int:
        raw = request.query_params.get(key)
        if raw is None or raw == "":
            return default
        try:
            value = int(raw)
        except ValueError:
            raise RequestError(
                400, f"Query parameter {key} must be an integer, got {raw!r}."
            ) from None
        if value < low or value > high:
            raise RequestError(
                400, f"Query parameter {key} must be between {low} and {high}, got {value}."
            )
        return value

    @app.get("/api/", summary="List the data API routes", tags=["api"])
    async def api_root(request: Request) -> Response:
        root = f"{request.url.scheme}://{request.headers.get('host', request.url.netloc)}/api"
        return _json({name: f"{root}/{name}/" for name in ROUTES})

    @app.get("/api/{route}/", summary="One page of a data API table", tags=["api"])
    def api_page(route: str, request: Request) -> Response:
        # list pages leave phase outputs out unless asked (?output=1); bounded in bytes too
        filters, with_output = parse_query(request, route, with_output=False)
        limit = int_param(request, "limit", DEFAULT_PAGE_SIZE, 1, MAX_PAGE_SIZE)
        offset = int_param(request, "offset", 0, 0, 2**62)
        try:
            count, rows = read_page(
                store.read,
                route,
                filters,
                limit=limit,
                offset=offset,
                with_output=with_output,
                max_bytes=max_page_bytes,
                encode=validate.dumps,
            )
        except ValueError as exc:
            raise RequestError(400, str(exc)) from None

        def link(new_offset: int | None) -> str | None:
            if new_offset is None:
                return None
            params = [
                (k, v)
                for k, v in request.query_params.multi_items()
                if k not in ("limit", "offset")
            ]
            params += [("limit", str(limit)), ("offset", str(new_offset))]
            host = request.headers.get("host", request.url.netloc)
            return f"{request.url.scheme}://{host}{request.url.path}?{urlencode(params)}"

        # a page cut short by its byte budget continues right after its last row
        end = offset + len(rows)
        nxt = end if end < count and rows else None
        prev = max(offset - limit, 0) if offset > 0 else None
        head = validate.dumps({"count": count, "next": link(nxt), "previous": link(prev)})
        parts = [head[:-1], b',"results":[']
        for i, row in enumerate(rows):  # one join: the page is copied once
            parts += (b",", row) if i else (row,)
        body = b"".join([*parts, b"]}"])
        del parts, rows
        return Response(body, media_type="application/json")

    @app.get("/api/{route}/all/", summary="Every matching row as NDJSON (no paging)", tags=["api"])
    def api_all(route: str, request: Request) -> Response:
        filters, with_output = parse_query(request, route)
        try:
            apply_filters(ROUTES[route], ROUTES[route].query(), filters)
        except ValueError as exc:
            raise RequestError(400, str(exc)) from None

        def lines() -> Iterator[bytes]:
            # memory: one keyset chunk (bounded in bytes) plus at most ~64 KiB of output
            batch: list[bytes] = []
            size = 0
            # keyset chunks of a quarter page: a stream holds little more than its current row
            rows = iter_rows(
                store.read, route, filters, with_output=with_output, max_bytes=max_page_bytes // 4
            )
            for row in rows:
                line = validate.dumps(row)
                batch.append(line)
                size += len(line) + 1
                if size >= 65536:
                    yield b"\n".join(batch) + b"\n"
                    batch, size = [], 0
            if batch:
                yield b"\n".join(batch) + b"\n"

        return StreamingResponse(lines(), media_type="application/x-ndjson")

    @app.get("/api/{route}/{row_id}/", summary="One row, whole (phases with output)", tags=["api"])
    def api_row(route: str, row_id: int) -> Response:
        parse_query_route(route)
        if not 1 <= row_id <= ingest.INT64_MAX or (
            row_id > ingest.INT32_MAX and store.read.dialect.name == "postgresql"
        ):  # PostgreSQL row ids are 32-bit: no such row (SQLite answers the same after a lookup)
            row = None
        elif route == "buildphases":  # the output streamed in pieces, never held whole
            row = stream_phase(store.read, row_id, validate.dumps)
        else:
            row = read_one(store.read, route, row_id)
        if row is None:
            raise RequestError(404, f"No row {row_id} in /api/{route}/.")
        if route == "buildphases":
            return StreamingResponse(row, media_type="application/json")
        return _json(row)

    return app
