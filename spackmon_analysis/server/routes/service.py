"""Service info and the token exchange of the ms1 protocol (PROTOCOL sections 1 and 2)."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from ... import __version__
from ..responses import error_response, json_response
from ..state import State

__all__ = ["router", "service_info_body"]

router = APIRouter(tags=["ms1"])


def service_info_body(
    created: str, started: str, environment: str, extensions: dict[str, Any] | None = None
) -> bytes:
    """The JSON document of ``GET /ms1/`` (the fields Spack's client reads, and the rest);
    ``extensions`` (our own, e.g. ``{"batch": {...}}``) is added when given."""
    info: dict[str, Any] = {
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
    if extensions:
        info["extensions"] = extensions
    return json.dumps(info).encode()


@router.get("", include_in_schema=False)
async def redirect(state: State) -> Response:
    return RedirectResponse(state.base_path + "/", status_code=301)


@router.get("/", summary="Service info")
async def service_info(state: State) -> Response:
    return Response(state.info_body, media_type="application/json")


@router.get("/auth/token/", summary="Exchange Basic user:token for a bearer token")
async def auth_token(request: Request, state: State) -> Response:
    address = request.client.host if request.client else "unknown"
    # the failures of every server process on the database (auth.FailureLimiter)
    wait = await run_in_threadpool(state.limiter.retry_after, address)
    if wait is not None:
        return error_response(
            429,
            f"Too many failed authentication attempts from {address}; retry after {wait} s.",
            {"Retry-After": str(wait)},
        )
    header = request.headers.get("authorization")
    if not header:
        return error_response(
            403, "Basic authentication with a username and API token is required."
        )
    ident = await run_in_threadpool(state.issuer.check_basic, header)
    if ident is None:
        await run_in_threadpool(state.limiter.failed, address)
        return error_response(403, "Invalid username or token.")
    return json_response(state.issuer.issue(ident))
