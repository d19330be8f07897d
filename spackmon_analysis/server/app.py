"""The FastAPI application: the ms1 protocol (PROTOCOL sections 1-3) and the ``/api/`` data API.

Request bodies are read raw and decoded as JSON whatever the Content-Type (Spack's urllib client
sends a form content type). Every write request runs in one database transaction; any refusal
raises :class:`~spackmon_analysis.server.ingest.RequestError` inside it, so the transaction rolls
back and the client gets ``{"message": ...}`` with a 4xx status. No bad input ever yields a 500.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any
from urllib.parse import urlencode

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response, StreamingResponse
from sqlalchemy import Connection, select
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from .. import __version__
from . import ingest, validate
from .auth import FailureLimiter, Identity, TokenIssuer, header_problem
from .ingest import RequestError
from .store import (
    MAX_PAGE_BYTES,
    ROUTES,
    Store,
    apply_filters,
    iter_rows,
    read_one,
    read_page,
    specs,
)

__all__ = ["create_app", "DEFAULT_MAX_BODY_SIZE", "MAX_PAGE_SIZE"]

#: Largest request body accepted by default (bytes, 100 MiB); larger bodies get 413.
DEFAULT_MAX_BODY_SIZE = 100 * 1024 * 1024
#: Largest ``limit`` of one data API page.
MAX_PAGE_SIZE = 100_000
DEFAULT_PAGE_SIZE = 10
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
        handle: Callable,
        info: bytes,
        info_path: str,
        max_body: int,
    ):
        self.max_body = max_body
        self.app = app
        self.paths = paths
        self.handle = handle
        self.info = info
        self.info_path = info_path

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path, method = scope["path"], scope["method"]
        if method == "POST" and path in self.paths:
            headers = dict(scope["headers"])
            length = headers.get(b"content-length", b"")
            if length.isdigit() and int(length) > self.max_body:
                await _send(send, *_too_large(self.max_body, int(length)), close=True)
                return
            # Count bytes as they arrive (a chunked body has no Content-Length): refuse as soon
            # as the limit is passed, without reading or holding the rest.
            chunks = []
            total = 0
            more = True
            while more:
                message = await receive()
                if message["type"] == "http.disconnect":
                    return
                chunk = message.get("body", b"")
                total += len(chunk)
                if total > self.max_body:
                    chunks.clear()
                    await _send(send, *_too_large(self.max_body), close=True)
                    return
                chunks.append(chunk)
                more = message.get("more_body", False)
            auth = headers.get(b"authorization")
            host = headers.get(b"host")
            server = scope.get("server") or ("127.0.0.1", 80)
            base_host = host.decode("latin-1") if host else f"{server[0]}:{server[1]}"
            base = f"{scope.get('scheme', 'http')}://{base_host}{path[: path.index('/', 1)]}"
            try:
                status, body, extra = self.handle(
                    path, auth.decode("latin-1") if auth else None, base, b"".join(chunks)
                )
            except Exception:  # noqa: BLE001 - answer JSON, never an HTML 500
                log.exception("unexpected error answering POST %s", path)
                status, body, extra = _raw(500, {"message": INTERNAL_ERROR, "code": 500})
        elif method == "GET" and path == self.info_path:
            status, body, extra = 200, self.info, []
        else:
            await self.app(scope, receive, send)
            return
        await _send(send, status, body, extra)


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


async def _send(
    send: Callable, status: int, body: bytes, extra: list, *, close: bool = False
) -> None:
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
    """
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
        return validate.decode_json(raw)  # the rules of validate.py (NaN, NUL, surrogates)

    # Writes are serialised through one long-lived connection (handlers run on the event loop;
    # the lock covers other callers): no pool checkout per request.
    held: dict[str, Connection | None] = {"conn": None}
    write_lock = threading.Lock()

    def _drop_connection() -> None:
        conn = held["conn"]
        held["conn"] = None
        if conn is not None:
            try:
                conn.invalidate()
                conn.close()
            except Exception:  # noqa: BLE001 - a broken connection may fail to close
                pass

    def transaction(fn: Callable[[Connection], Any]) -> Any:
        """Run ``fn`` in one write transaction, retrying on a unique-key race or a busy database."""
        attempts = 5
        with write_lock:
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
                    if attempt == attempts - 1:
                        raise RequestError(
                            503, f"The database is busy or unreachable, try again: {exc.orig}"
                        ) from None
                    time.sleep(0.05 * (attempt + 1))
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
            raise AssertionError("unreachable")

    app.state.close_writer = _drop_connection

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

    def handle_write(
        path: str, authorization: str | None, base: str, raw: bytes
    ) -> tuple[int, bytes, list]:
        """One protected write request -> (status, JSON body, extra headers)."""
        ident = issuer.verify_bearer(authorization)
        if ident is None:
            why = (
                "Authentication credentials were not provided."
                if not authorization
                else "The bearer token is invalid or expired; authenticate again."
            )
            return challenge(base, why)
        try:
            body = decode_body(raw)
            message, data, status = transaction(lambda conn: writers[path](conn, body, ident))
        except RequestError as exc:
            return _raw(exc.status, exc.body())
        except RecursionError:  # rolled back; e.g. a spec document too deep for the spec reader
            return _raw(400, {"message": TOO_DEEP, "code": 400})
        return _raw(status, {"message": message, "data": data, "code": status})

    def base_of(scheme: str, host: str | None, fallback: str) -> str:
        return f"{scheme}://{host or fallback}{base_path}"

    async def write_route(request: Request) -> Response:
        length = request.headers.get("content-length")
        too_large = None
        if length and length.isdigit() and int(length) > max_body_size:
            too_large = _too_large(max_body_size, int(length))
        else:
            chunks, total = [], 0
            async for chunk in request.stream():
                total += len(chunk)
                if total > max_body_size:
                    too_large = _too_large(max_body_size)
                    break
                chunks.append(chunk)
        if too_large is not None:
            return Response(
                too_large[1],
                status_code=413,
                media_type="application/json",
                headers={"Connection": "close"},
            )
        raw = b"".join(chunks)
        base = base_of(request.url.scheme, request.headers.get("host"), request.url.netloc)
        status, body, headers = handle_write(
            request.url.path, request.headers.get("authorization"), base, raw
        )
        return Response(
            body,
            status_code=status,
            media_type="application/json",
            headers={k.decode(): v.decode() for k, v in headers},
        )

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
        ident = issuer.check_basic(header)
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
            handle=handle_write,
            info=info_body,
            info_path=base_path + "/",
            max_body=max_body_size,
        )

    def envelope(message: str, data: Any, status: int) -> Response:
        return _json({"message": message, "data": data, "code": status}, status)

    @app.get(
        base_path + "/specs/name/{name}/", summary="All specs of one package name", tags=["ms1"]
    )
    async def specs_by_name(name: str) -> Response:
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
        body = b"".join((head[:-1], b',"results":[', b",".join(rows), b"]}"))
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
            rows = iter_rows(
                store.read, route, filters, with_output=with_output, max_bytes=max_page_bytes
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
        else:
            row = read_one(store.read, route, row_id)
        if row is None:
            raise RequestError(404, f"No row {row_id} in /api/{route}/.")
        return _json(row)

    return app
