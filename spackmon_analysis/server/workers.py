"""``spackmon serve --workers N``: N server processes on one listening socket and one database.

The parent binds the port, opens the database once (schema check or creation, so the workers
never race to create it), and hands the socket to uvicorn's own process supervisor
(``uvicorn.supervisors.Multiprocess``: spawned workers, a dead worker replaced, ``SIGHUP``
restarts them one by one, ``SIGTERM``/``SIGINT`` stop them gracefully, a worker that cannot start
stops the whole server). Each worker builds the same application from :class:`ServeSettings`
(:func:`build_app`): its own connections, its own transport limits (:mod:`.guard`), the same
service info (one start time, chosen by the parent).

Nothing one worker keeps in memory can make it answer differently from another
(docs/server.md, "Several workers"): bearer tokens are signed with the secret stored in the
database, session revocations are read from it, and the failed-login limit counts rows of its
``auth_failures`` table. More than one worker needs PostgreSQL (:func:`check_workers`).

With ``SPACKMON_TEST_WORKER_HEADER=1`` in its environment every worker (or the single process)
adds
``X-Spackmon-Worker: <pid>`` to each answer, so a test can see which process answered; nothing
else reads that variable.
"""

from __future__ import annotations

import logging
import os
import sys
from dataclasses import dataclass
from typing import Any

import uvicorn
from starlette.types import Message, Receive, Scope, Send

from ..errors import ConfigError
from .guard import TransportLimits
from .tables import Store, redact_url

__all__ = [
    "ServeSettings",
    "build_app",
    "check_workers",
    "run_workers",
    "WORKER_HEADER_ENV",
    "WORKER_HEADER",
]

#: The environment variable that makes every worker name its pid in each answer (tests only).
WORKER_HEADER_ENV = "SPACKMON_TEST_WORKER_HEADER"
#: The answer header that then carries the worker's pid.
WORKER_HEADER = "x-spackmon-worker"
#: uvicorn's exit status of a worker that failed before serving (the supervisor then stops).
_STARTUP_FAILURE = 3

log = logging.getLogger("spackmon_analysis.server")


@dataclass(frozen=True)
class ServeSettings:
    """What every worker of one ``spackmon serve`` builds its application from (picklable)."""

    db_url: str
    token_lifetime: int = 6000
    max_body_size: int = 100 * 1024 * 1024
    auth_failure_limit: int = 10
    auth_failure_window: float = 60.0
    db_wait: float = 15.0
    limits: TransportLimits = TransportLimits()
    forwarded_allow_ips: str | None = None
    #: the service info's ``updatedAt``: when ``spackmon serve`` started, the same in every worker
    started: str | None = None
    #: most items of one batch (the batch extension, :mod:`.batch`); 0 turns the extension off
    batch_max_items: int = 1000


def check_workers(workers: int, db_url: str) -> None:
    """Refuse ``--workers`` above 1 on SQLite (a :class:`ConfigError` naming the option).

    SQLite lets one process write at a time: a second worker would only wait for the first one's
    lock (and answer 503 once ``--db-wait`` runs out), and nothing would get faster.
    """
    if workers > 1 and db_url.startswith("sqlite"):
        raise ConfigError(
            f"--workers {workers} needs a PostgreSQL database (--db "
            "postgresql+psycopg://USER@HOST/DB): the database "
            f"{redact_url(db_url)} is SQLite, which takes one writer at a time, so more processes "
            "would only wait for each other; use --workers 1 with SQLite"
        )


def build_app(settings: ServeSettings, store: Store | None = None) -> Any:
    """The application one worker (or the single process) serves, on ``store`` (default: the
    database of ``settings`` opened here)."""
    from .app import create_app

    app = create_app(
        store=store or Store.open(settings.db_url),
        token_lifetime=settings.token_lifetime,
        max_body_size=settings.max_body_size,
        auth_failure_limit=settings.auth_failure_limit,
        auth_failure_window=settings.auth_failure_window,
        db_wait=settings.db_wait,
        started=settings.started,
        batch_max_items=settings.batch_max_items,
    )
    if os.environ.get(WORKER_HEADER_ENV) == "1":
        return _WorkerPidHeader(app)
    return app


class _WorkerPidHeader:
    """ASGI wrapper adding ``X-Spackmon-Worker: <pid>`` to every answer (tests only)."""

    def __init__(self, app: Any):
        self.app = app
        self.value = str(os.getpid()).encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_pid(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [*message.get("headers", []), (WORKER_HEADER.encode(), self.value)]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_pid)


class WorkerConfig(uvicorn.Config):
    """A uvicorn ``Config`` that builds this package's application in the worker process.

    uvicorn pickles the config into each spawned worker; this one carries only
    :class:`ServeSettings` and plain uvicorn settings, and :meth:`load` (run in the worker) makes
    the application and the guarded protocol class there.
    """

    def __init__(self, settings: ServeSettings, **kwargs: Any):
        from .local import uvicorn_options

        options = uvicorn_options(settings.limits, settings.forwarded_allow_ips)
        options.pop("http")  # a class made at run time: chosen in the worker (load)
        super().__init__(app="spackmon_analysis.server.workers:build_app", **options, **kwargs)
        self.spackmon_settings = settings

    def load(self) -> None:
        from .local import _http_impl

        settings = self.spackmon_settings
        try:
            app: Any = build_app(settings)
        except Exception as exc:  # noqa: BLE001 - any failure: this worker cannot serve
            log.error("spackmon: worker %d cannot start: %s", os.getpid(), exc)
            sys.exit(_STARTUP_FAILURE)
        self.app = app
        self.http = _http_impl(settings.limits)
        super().load()


def run_workers(
    settings: ServeSettings,
    *,
    host: str,
    port: int,
    workers: int,
    log_level: str = "warning",
    access_log: bool = False,
) -> None:
    """Serve ``settings`` on ``host:port`` with ``workers`` processes until stopped (blocks)."""
    from uvicorn.supervisors.multiprocess import Multiprocess

    from .local import _loop_impl

    check_workers(workers, settings.db_url)
    config = WorkerConfig(
        settings,
        host=host,
        port=port,
        workers=workers,
        log_level=log_level,
        access_log=access_log,
        loop=_loop_impl(),
        lifespan="off",
    )
    sock = config.bind_socket()
    supervisor = Multiprocess(config, sockets=[sock])
    try:
        supervisor.run()
    finally:
        sock.close()
    if any(p.exitcode == _STARTUP_FAILURE for p in supervisor.processes):
        raise ConfigError("a worker could not start (its message is above); the server stopped")
