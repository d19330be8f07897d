"""The state one application's routes share: :class:`MonitorState`, kept on ``app.state.monitor``.

Routes reach it through the FastAPI dependency :data:`State` (``state: State`` in a route's
signature); the ASGI front of :mod:`.app` holds it directly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from .auth import FailureLimiter, TokenIssuer
from .tables import Store
from .writes import WritePath

__all__ = ["MonitorState", "State", "get_state"]


@dataclass(frozen=True)
class MonitorState:
    """What the routes of one application share (made once by ``create_app``)."""

    store: Store
    issuer: TokenIssuer
    limiter: FailureLimiter
    writes: WritePath
    #: the protocol's path prefix, ``/ms1``
    base_path: str
    #: the service-info document (``GET /ms1/``), encoded once
    info_body: bytes
    #: byte budget of one data API page (and of one chunk of ``/all/``)
    max_page_bytes: int
    #: how long one request waits in all for the database (seconds)
    db_wait: float


def get_state(request: Request) -> MonitorState:
    """The :class:`MonitorState` of the application serving ``request``."""
    return request.app.state.monitor


#: A route parameter annotated with this receives the application's :class:`MonitorState`.
State = Annotated[MonitorState, Depends(get_state)]
