"""The FastAPI application: :func:`create_app` assembles the ms1 protocol and the data API.

The parts (docs/ARCHITECTURE.md, "The server"):

* :mod:`.routes.service` (service info, token exchange), :mod:`.routes.protocol` (the ms1 writes,
  specs by name) and :mod:`.routes.data` (the ``/api/`` data API): one router each, sharing one
  :class:`~.state.MonitorState` (``app.state.monitor``);
* :class:`~.writes.WritePath`: the writes' bearer check, body limits, worker threads and the one
  serialised transaction; :mod:`.ingest` writes the rows, :mod:`.queries` reads them back;
* here: the ASGI front that answers the writes and the service info before FastAPI's routing
  (:class:`MonitorApp`), and one JSON error handler for every route.

Request bodies are read raw and decoded as JSON whatever the Content-Type (Spack's urllib client
sends a form content type). Every write request runs in one database transaction; any refusal
raises :class:`~spackmon_analysis.server.validate.RequestError` inside it, so the transaction rolls
back and the client gets ``{"message": ...}`` with a 4xx status. No bad input ever yields a 500.

No request stalls the others (docs/server.md, "Serving many clients"): writes are refused on
their headers when they can be, decoded and written in worker threads, and wait at most
``db_wait`` seconds for the database (then 503 with ``Retry-After``); reads wait as long at most
and answer the same way.
"""

from __future__ import annotations

import json
import logging
import math
import time
from functools import partial
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import Receive, Scope, Send

from .. import __version__
from .auth import FailureLimiter, TokenIssuer, header_problem
from .batch import BATCH_PATH, DEFAULT_BATCH_MAX_BYTES, DEFAULT_BATCH_MAX_ITEMS, BatchLimits
from .queries import MAX_PAGE_BYTES
from .responses import INTERNAL_ERROR, error_response, json_response, raw_answer, send_answer
from .routes import data, protocol, service
from .routes.data import MAX_PAGE_SIZE
from .state import MonitorState
from .tables import Store
from .validate import RequestError
from .writes import WritePath, is_lock_wait

__all__ = [
    "create_app",
    "MonitorApp",
    "DEFAULT_MAX_BODY_SIZE",
    "MAX_PAGE_SIZE",
    "DEFAULT_DB_WAIT",
    "INTERNAL_ERROR",
]

#: Largest request body accepted by default (bytes, 100 MiB); larger bodies get 413.
DEFAULT_MAX_BODY_SIZE = 100 * 1024 * 1024
#: Longest total wait of one request for the write lock and the database (seconds); then 503.
DEFAULT_DB_WAIT = 15.0

log = logging.getLogger("spackmon_analysis.server")


class _FastPath:
    """Pure-ASGI front for the hot ms1 endpoints (everything else goes to FastAPI)."""

    def __init__(self, app: Any, state: MonitorState):
        self.app = app
        self.writes = state.writes
        self.paths = state.writes.paths
        self.info = state.info_body
        self.info_path = state.base_path + "/"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
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
            answer = await self.writes.serve(path, headers, base, receive)
            if answer is None:  # the client went away
                return
            await send_answer(send, *answer)
        elif method == "GET" and path == self.info_path:
            await send_answer(send, 200, self.info, [])
        else:
            await self.app(scope, receive, send)


class MonitorApp(FastAPI):
    """FastAPI with the ms1 hot paths answered before FastAPI's middleware stack and routing."""

    fast: _FastPath | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            problem = header_problem(scope["headers"])  # on every route, before anything else
            if problem is not None:
                await send_answer(
                    send, *raw_answer(400, {"message": problem, "code": 400}), close=True
                )
                return
        if self.fast is not None:
            await self.fast(scope, receive, send)
        else:
            await super().__call__(scope, receive, send)


def _add_error_handlers(app: FastAPI, db_wait: float) -> None:
    """One JSON answer for every error: ``{"message": ..., "code": status}``, never HTML."""

    @app.exception_handler(RequestError)
    async def _request_error(_request: Request, exc: RequestError) -> Response:
        return json_response(exc.body(), exc.status)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_request: Request, exc: RequestValidationError) -> Response:
        parts = []
        for err in exc.errors():
            loc = ".".join(str(p) for p in err.get("loc", ()))
            parts.append(f"{loc}: {err.get('msg')}")
        return error_response(400, "Invalid request: " + "; ".join(parts))

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_request: Request, exc: StarletteHTTPException) -> Response:
        message = exc.detail if isinstance(exc.detail, str) else json.dumps(exc.detail)
        return error_response(exc.status_code, message, getattr(exc, "headers", None))

    @app.exception_handler(OperationalError)
    async def _database_busy(request: Request, exc: OperationalError) -> Response:
        if is_lock_wait(exc):
            return error_response(
                503,
                f"The database stayed busy for {db_wait:g} s; try again.",
                {"Retry-After": str(max(1, math.ceil(db_wait)))},
            )
        log.error("database error answering %s %s: %s", request.method, request.url.path, exc)
        return error_response(
            503, "The database is unreachable; the details are in the server log."
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        log.error(
            "unexpected error answering %s %s",
            request.method,
            request.url.path,
            exc_info=(type(exc), exc, exc.__traceback__),
        )
        return error_response(500, INTERNAL_ERROR)


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
    started: str | None = None,
    batch_max_items: int = DEFAULT_BATCH_MAX_ITEMS,
    batch_max_bytes: int = DEFAULT_BATCH_MAX_BYTES,
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
    answers 503 with ``Retry-After`` and nothing is written. ``started``
    (``YYYY-MM-DDTHH:MM:SSZ``) is the service info's ``updatedAt``, by default now: the workers
    of one ``spackmon serve --workers N`` are given the same one.
    ``batch_max_items`` / ``batch_max_bytes`` are the limits of the batch extension
    (``POST /ms1/batch/``, :mod:`.batch`), advertised in the service info; the byte limit is
    capped at ``max_body_size``; ``batch_max_items=0`` turns the extension off (a plain ms1
    server: no ``extensions`` in the service info, no batch route).
    """
    if not (isinstance(db_wait, int | float) and math.isfinite(db_wait) and db_wait > 0):
        raise ValueError(f"db_wait must be a number of seconds > 0, got {db_wait!r}")
    store = store or Store.open(db_url)
    issuer = TokenIssuer(store, token_lifetime)
    started = started or time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    base_path = "/" + prefix.strip("/")
    handlers = {base_path + path: handler for path, (_, handler) in protocol.WRITES.items()}
    batch = None
    if batch_max_items:
        batch = BatchLimits(batch_max_items, min(batch_max_bytes, max_body_size))
    extensions = {"batch": batch.advertised()} if batch else None
    state = MonitorState(
        store=store,
        issuer=issuer,
        limiter=FailureLimiter(store, auth_failure_limit, auth_failure_window),
        writes=WritePath(
            store,
            issuer,
            handlers,
            max_body_size=max_body_size,
            db_wait=db_wait,
            batch=batch,
            batch_path=base_path + BATCH_PATH if batch else None,
        ),
        base_path=base_path,
        info_body=service.service_info_body(
            store.created_at(), started, environment, extensions=extensions
        ),
        max_page_bytes=max_page_bytes,
        db_wait=db_wait,
    )

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
    app.state.monitor = state
    app.state.store = store
    app.state.issuer = issuer
    app.state.limiter = state.limiter
    app.state.close_writer = state.writes.close
    _add_error_handlers(app, db_wait)
    app.include_router(service.router, prefix=base_path)
    app.include_router(protocol.router, prefix=base_path)
    app.include_router(data.router)
    if batch is not None:
        app.add_api_route(
            base_path + BATCH_PATH,
            protocol.write_route,
            methods=["POST"],
            summary="Many ms1 writes in one transaction (extension): body {items: [{path, body}]}",
            description="Bearer-protected; see docs/server.md, 'The batch extension'.",
            tags=["ms1"],
        )
    if fast_path:
        app.fast = _FastPath(partial(FastAPI.__call__, app), state)
    return app
