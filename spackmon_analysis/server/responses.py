"""JSON answers of the server, as FastAPI responses and as raw ASGI messages.

Every answer, an error included, is a JSON object encoded by :func:`.validate.dumps` (NaN and
lone surrogates never reach the client); errors are ``{"message": ..., "code": status}``. The raw
form ``(status, body, extra headers)`` serves the writes and the service info, which are answered
below FastAPI's routing (:class:`~.app.MonitorApp`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi.responses import Response

from . import validate

__all__ = [
    "INTERNAL_ERROR",
    "json_response",
    "error_response",
    "raw_answer",
    "too_large",
    "send_answer",
    "drain",
]

#: The answer to an unexpected server error (the details go to the log, never to the client).
INTERNAL_ERROR = "Internal server error; the details are in the server log."

#: ``(status, JSON body, extra headers)``: an answer sent with :func:`send_answer`.
RawAnswer = tuple[int, bytes, list]


def json_response(data: Any, status: int = 200, headers: dict | None = None) -> Response:
    """``data`` as a JSON response."""
    body = validate.dumps(data)
    return Response(body, status_code=status, media_type="application/json", headers=headers)


def error_response(status: int, message: str, headers: dict | None = None) -> Response:
    """``{"message": message, "code": status}`` with that status."""
    return json_response({"message": message, "code": status}, status, headers)


def raw_answer(status: int, data: Any, headers: list | None = None) -> RawAnswer:
    """``data`` encoded as the raw answer ``(status, body, extra headers)``."""
    return status, validate.dumps(data), headers or []


def too_large(limit: int, length: int | None = None) -> RawAnswer:
    """The 413 answer for a body of ``length`` bytes (or one found larger than ``limit``)."""
    size = f"of {length} bytes" if length is not None else f"larger than {limit} bytes"
    message = f"Request body {size} exceeds the limit of {limit} bytes."
    return raw_answer(413, {"message": message, "code": 413})


async def send_answer(
    send: Callable, status: int, body: bytes, extra: list, close: bool = False
) -> None:
    """Send a raw answer over ASGI ``send``; ``close``: the request body was not read to its
    end, so the connection cannot be reused."""
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


async def drain(receive: Callable, limit: int) -> bool:
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
