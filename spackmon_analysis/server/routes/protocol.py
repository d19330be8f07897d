"""The ms1 protocol's writes and spec lookup (PROTOCOL section 3).

:data:`WRITES` names each bearer-protected write with its OpenAPI summary and its
:data:`~spackmon_analysis.server.writes.Handler`, which calls :mod:`..ingest` inside the
transaction. The requests themselves are served by :class:`~..writes.WritePath` (from the ASGI
front of :mod:`..app`, or from :func:`write_route` when the front is off).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import Connection, select

from ..auth import Identity
from ..ingest import analyze, buildwrites, phases, specdocs
from ..queries import ROUTES
from ..responses import json_response
from ..state import State
from ..tables import specs
from ..writes import Handler

__all__ = ["router", "WRITES"]

router = APIRouter(tags=["ms1"])


def _specs_new(conn: Connection, body: Any, _ident: Identity) -> tuple[str, Any, int]:
    status, data = specdocs.new_spec(conn, body)
    return "success", data, status


def _builds_new(conn: Connection, body: Any, ident: Identity) -> tuple[str, Any, int]:
    status, data = buildwrites.new_build(conn, body, ident.user_id)
    return "Build get or create was successful.", data, status


def _builds_update(conn: Connection, body: Any, ident: Identity) -> tuple[str, Any, int]:
    return "Status updated", buildwrites.update_build(conn, body, ident.user_id), 200


def _phase(conn: Connection, body: Any, ident: Identity) -> tuple[str, Any, int]:
    data = phases.update_phase(conn, body, ident.user_id)
    return f"Phase {data['build_phase']['name']} was successfully updated.", data, 200


def _analyze(conn: Connection, body: Any, ident: Identity) -> tuple[str, Any, int]:
    return "Metadata updated", analyze.analyze_build(conn, body, ident.user_id), 200


#: path under the prefix -> (OpenAPI summary, handler)
WRITES: dict[str, tuple[str, Handler]] = {
    "/specs/new/": ("Upload a spec DAG: body {spec, spack_version}", _specs_new),
    "/builds/new/": (
        "Get or create a build: body {host_os, platform, host_target, hostname, "
        "kernel_version, spack_version, full_hash, [tags], [spec]}",
        _builds_new,
    ),
    "/builds/update/": ("Set a build's status: body {build_id, status}", _builds_update),
    "/builds/phases/update/": (
        "Upsert a build phase: body {build_id, phase_name, status, output}",
        _phase,
    ),
    "/analyze/builds/": ("Attach analyzer metadata: body {build_id, metadata}", _analyze),
}


async def write_route(request: Request, state: State) -> Response:
    """A write through FastAPI's routing (the same answers as the ASGI front's)."""
    host = request.headers.get("host") or request.url.netloc
    base = f"{request.url.scheme}://{host}{state.base_path}"
    headers = {k.lower(): v for k, v in request.headers.raw}
    answer = await state.writes.serve(request.url.path, headers, base, request.receive)
    if answer is None:
        return Response(b"", status_code=400)  # nobody is listening any more
    status, body, extra, close = answer
    out = {k.decode(): v.decode() for k, v in extra}
    if close:
        out["Connection"] = "close"
    return Response(body, status_code=status, media_type="application/json", headers=out)


for _path, (_summary, _handler) in WRITES.items():
    router.add_api_route(
        _path,
        write_route,
        methods=["POST"],
        summary=_summary,
        description=(
            "Bearer-protected (see /auth/token/). The body is JSON whatever the Content-Type."
        ),
    )


@router.get("/specs/name/{name}/", summary="All specs of one package name")
def specs_by_name(name: str, state: State) -> Response:
    def envelope(data: Any) -> Response:
        return json_response({"message": "success", "data": data, "code": 200})

    if "\x00" in name:  # PostgreSQL text cannot hold NUL: no spec has this name
        return envelope({"specs": []})
    with state.store.read.connect() as conn:
        rows = conn.execute(select(specs).where(specs.c.name == name).order_by(specs.c.id)).all()
    route = ROUTES["specs"]
    return envelope({"specs": [route.row(r) for r in rows]})
