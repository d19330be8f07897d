"""The read-only data API under ``/api/`` (docs/server.md, "The data API").

``GET /api/`` lists the routes; ``GET /api/<route>/`` is one page (bounded in rows and in bytes,
phase outputs left out unless ``?output=1``); ``GET /api/<route>/all/`` streams every matching row
as NDJSON; ``GET /api/<route>/<id>/`` is one whole row. The rows, filters and pages are those of
:mod:`..queries`.
"""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse

from .. import validate
from ..ingest import fields
from ..queries import (
    PHASE_ROUTES,
    ROUTES,
    apply_filters,
    check_fields,
    iter_rows,
    read_one,
    read_page,
    stream_phase,
)
from ..responses import json_response
from ..state import State
from ..validate import RequestError

__all__ = ["router", "MAX_PAGE_SIZE", "DEFAULT_PAGE_SIZE"]

#: Largest ``limit`` of one data API page.
MAX_PAGE_SIZE = 100_000
DEFAULT_PAGE_SIZE = 10

router = APIRouter(prefix="/api", tags=["api"])


def _check_route(route_name: str) -> None:
    if route_name not in ROUTES:
        raise RequestError(
            404, f"Unknown data API route {route_name!r}; routes: {', '.join(ROUTES)}"
        )


def _parse_query(
    request: Request, route_name: str, with_output: bool = True
) -> tuple[dict, bool, tuple[str, ...] | None]:
    """The filters of a request's query string, whether phases carry their output, and the
    fields asked for (``fields=``, comma-separated or repeated; None: every field). Naming
    ``output`` among the fields of a phases route asks for the log (as ``output=1``);
    leaving it out leaves the log out (and unread)."""
    _check_route(route_name)
    given: dict[str, list[str]] = {}
    asked_output: bool | None = None
    named: list[str] = []
    for key, value in request.query_params.multi_items():
        if key in ("limit", "offset", "format"):
            continue
        if key == "fields":
            named.append(value)
            continue
        if key == "output" and route_name in PHASE_ROUTES:
            asked_output = value.strip().lower() not in ("0", "false", "no")
            continue
        given.setdefault(key, []).append(value)
    try:
        fields = check_fields(route_name, named) if named else None
    except ValueError as exc:
        raise RequestError(400, str(exc)) from None
    if asked_output is not None:
        with_output = asked_output
    if fields is not None and route_name in PHASE_ROUTES:
        if asked_output is False and "output" in fields:
            raise RequestError(
                400, f"fields= names 'output' but output=0 leaves it out (/api/{route_name}/)"
            )
        with_output = "output" in fields
    # a filter given several times matches any of its values
    filters = {k: v[0] if len(v) == 1 else v for k, v in given.items()}
    return filters, with_output, fields


def _int_param(request: Request, key: str, default: int, low: int, high: int) -> int:
    raw = request.query_params.get(key)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise RequestError(400, f"Query parameter {key} must be an integer, got {raw!r}.") from None
    if value < low or value > high:
        raise RequestError(
            400, f"Query parameter {key} must be between {low} and {high}, got {value}."
        )
    return value


def _in_range(state: State, row_id: int) -> bool:
    """Whether ``row_id`` can be a row id (PostgreSQL row ids are 32-bit: a larger one is no
    row; SQLite answers the same after a lookup)."""
    return 1 <= row_id <= fields.INT64_MAX and not (
        row_id > fields.INT32_MAX and state.store.read.dialect.name == "postgresql"
    )


@router.get("/", summary="List the data API routes")
async def api_root(request: Request) -> Response:
    root = f"{request.url.scheme}://{request.headers.get('host', request.url.netloc)}/api"
    return json_response({name: f"{root}/{name}/" for name in ROUTES})


@router.get("/{route}/", summary="One page of a data API table")
def api_page(route: str, request: Request, state: State) -> Response:
    return _page(route, request, state, {})


@router.get("/builds/{build_id}/attempts/", summary="One page of the attempts of one build")
def api_build_attempts(build_id: int, request: Request, state: State) -> Response:
    if _in_range(state, build_id) and read_one(state.store.read, "builds", build_id) is not None:
        return _page("attempts", request, state, {"build": build_id})
    raise RequestError(404, f"No row {build_id} in /api/builds/.")


def _page(route: str, request: Request, state: State, fixed: dict) -> Response:
    # list pages leave phase outputs out unless asked (?output=1); bounded in bytes too
    filters, with_output, fields = _parse_query(request, route, with_output=False)
    filters.update(fixed)
    limit = _int_param(request, "limit", DEFAULT_PAGE_SIZE, 1, MAX_PAGE_SIZE)
    offset = _int_param(request, "offset", 0, 0, 2**62)
    try:
        count, rows = read_page(
            state.store.read,
            route,
            filters,
            limit=limit,
            offset=offset,
            with_output=with_output,
            max_bytes=state.max_page_bytes,
            encode=validate.dumps,
            fields=fields,
        )
    except ValueError as exc:
        raise RequestError(400, str(exc)) from None

    def link(new_offset: int | None) -> str | None:
        if new_offset is None:
            return None
        params = [
            (k, v) for k, v in request.query_params.multi_items() if k not in ("limit", "offset")
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


@router.get("/{route}/all/", summary="Every matching row as NDJSON (no paging)")
def api_all(route: str, request: Request, state: State) -> Response:
    filters, with_output, fields = _parse_query(request, route)
    try:
        apply_filters(ROUTES[route], ROUTES[route].query(), filters)
    except ValueError as exc:
        raise RequestError(400, str(exc)) from None
    engine, chunk_bytes = state.store.read, state.max_page_bytes // 4

    def lines() -> Iterator[bytes]:
        # memory: one keyset chunk (bounded in bytes) plus at most ~64 KiB of output
        batch: list[bytes] = []
        size = 0
        # keyset chunks of a quarter page: a stream holds little more than its current row
        for row in iter_rows(
            engine, route, filters, with_output=with_output, max_bytes=chunk_bytes, fields=fields
        ):
            line = validate.dumps(row)
            batch.append(line)
            size += len(line) + 1
            if size >= 65536:
                yield b"\n".join(batch) + b"\n"
                batch, size = [], 0
        if batch:
            yield b"\n".join(batch) + b"\n"

    return StreamingResponse(lines(), media_type="application/x-ndjson")


@router.get("/{route}/{row_id}/", summary="One row, whole (phases with output)")
def api_row(route: str, row_id: int, state: State) -> Response:
    _check_route(route)
    read = state.store.read
    in_range = _in_range(state, row_id)
    missing = RequestError(404, f"No row {row_id} in /api/{route}/.")
    if route in PHASE_ROUTES:  # the output streamed in pieces, never held whole
        pieces = stream_phase(read, row_id, validate.dumps, route) if in_range else None
        if pieces is None:
            raise missing
        return StreamingResponse(pieces, media_type="application/json")
    row = read_one(read, route, row_id) if in_range else None
    if row is None:
        raise missing
    return json_response(row)
