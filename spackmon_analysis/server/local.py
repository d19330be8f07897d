"""``LocalMonitor``: the real server on a free loopback port, in a background thread.

For tests and notebooks::

    with LocalMonitor() as mon:
        token = mon.add_user("vsoch")
        mon.session().get(f"{mon.base_url}/")

The server never imports the client: ``spackmon_analysis.LocalMonitor``
(:mod:`spackmon_analysis.localmonitor`, a layer above both) is this class plus ``client()``.

It runs exactly the application of :func:`create_app` under uvicorn, on ``127.0.0.1`` and a port
chosen by the OS, over a temporary SQLite file unless ``db_url`` is given.

``LocalMonitor(in_process=True)`` runs the same application without a socket (see
:mod:`.inprocess`): its :attr:`~LocalMonitor.url` is a name no network resolves, and only
sessions it mounts reach it (:meth:`~LocalMonitor.session`, :meth:`~LocalMonitor.mount`, and
``client()`` of ``spackmon_analysis.LocalMonitor``). The test suite uses it for every server test that does not
need a real port; ``spackmon serve``, uvicorn's HTTP parser and the transport limits of
:mod:`.guard` are not in that path.
"""

from __future__ import annotations

import itertools
import shutil
import socket
import tempfile
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from typing_extensions import Self

import requests

from ..errors import ConfigError
from .auth import add_user, rotate_token
from .auth import revoke_sessions as _revoke_sessions
from .guard import TransportLimits, guarded_protocol
from .tables import Store

__all__ = ["LocalMonitor"]

_IN_PROCESS_IDS = itertools.count(1)


class LocalMonitor:
    """An in-process Spack Monitor on a loopback port (a context manager).

    ``db_url``: database URL (default: a temporary SQLite file removed on :meth:`stop`);
    ``port``: 0 picks a free port; ``transport_limits`` (:class:`~.guard.TransportLimits`)
    and ``forwarded_allow_ips`` are the transport settings of ``spackmon serve``;
    ``token_lifetime`` / ``max_body_size`` / other keyword arguments go to :func:`create_app`.

    ``in_process=True`` serves the application without a socket (no port, no uvicorn): its
    ``url`` is ``http://localmonitor-N.invalid`` and only the sessions of :meth:`client`,
    :meth:`session` and :meth:`mount` reach it. ``port``, ``transport_limits`` and
    ``forwarded_allow_ips`` do not apply then.
    """

    def __init__(
        self,
        db_url: str | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        prefix: str = "ms1",
        token_lifetime: int = 6000,
        transport_limits: TransportLimits | None = None,
        forwarded_allow_ips: str | None = None,
        in_process: bool = False,
        **app_kwargs: Any,
    ):
        self.in_process = in_process
        self.transport_limits = transport_limits
        self.forwarded_allow_ips = forwarded_allow_ips
        self.host = host
        self.port = port
        self.prefix = prefix
        self.token_lifetime = token_lifetime
        self._requested_db = db_url
        self.db_url: str | None = db_url
        self._app_kwargs = app_kwargs
        self._tmpdir: str | None = None
        self._server: Any = None
        self._app: Any = None
        self._thread: threading.Thread | None = None
        self._sock: socket.socket | None = None
        self._runner: Any = None  # in-process: the AppRunner
        self._adapter: Any = None  # in-process: the requests adapter sessions mount
        self.store: Store | None = None
        self.tokens: dict[str, str] = {}

    # ------------------------------------------------------------------ lifecycle
    @property
    def running(self) -> bool:
        """True while the server thread is serving."""
        if self._runner is not None:
            return bool(self._runner.running)
        return self._thread is not None and self._thread.is_alive()

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT`` (the host to give a client); in-process
        ``http://localmonitor-N.invalid``."""
        if self.in_process:
            return f"http://{self.host}"
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT/ms1``."""
        return f"{self.url}/{self.prefix}"

    def start(self) -> Self:
        """Open the database, bind the port and serve in a daemon thread; returns self."""
        if self.running:
            return self
        import uvicorn

        from .app import create_app

        try:
            self._start(uvicorn, create_app)
        except BaseException:
            self.stop()  # a failed start leaves nothing behind (no temporary database, no socket)
            raise
        return self

    def _start(self, uvicorn: Any, create_app: Any) -> None:
        if self._requested_db is None:
            self._tmpdir = tempfile.mkdtemp(prefix="spackmon-local-")
            self.db_url = f"sqlite:///{Path(self._tmpdir) / 'spackmon.db'}"
        self.store = Store.open(self.db_url)
        app = create_app(
            store=self.store,
            token_lifetime=self.token_lifetime,
            prefix=self.prefix,
            environment="local",
            **self._app_kwargs,
        )
        self._app = app
        if self.in_process:
            from .inprocess import AppRunner, InProcessAdapter

            self.host = f"localmonitor-{next(_IN_PROCESS_IDS)}.invalid"
            self._runner = AppRunner(app, name=f"spackmon-{self.host}")
            self._adapter = InProcessAdapter(self._runner)
            return
        # IPPROTO_TCP explicitly: asyncio only sets TCP_NODELAY on accepted sockets whose proto is
        # IPPROTO_TCP; without it keep-alive requests stall on Nagle + delayed ACK (40 ms each).
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.host, self.port))
        except (OSError, OverflowError) as exc:  # OverflowError: a port outside 0-65535
            sock.close()
            raise ConfigError(f"cannot bind {self.host}:{self.port}: {exc}") from None
        self.port = sock.getsockname()[1]
        self._sock = sock
        config = uvicorn.Config(
            app,
            log_level="warning",
            access_log=False,
            loop="asyncio",
            lifespan="off",
            **uvicorn_options(self.transport_limits, self.forwarded_allow_ips),
        )
        self._server = uvicorn.Server(config)
        self._server.install_signal_handlers = lambda: None  # not the main thread
        self._thread = threading.Thread(
            target=self._server.run,
            kwargs={"sockets": [sock]},
            name=f"spackmon-{self.port}",
            daemon=True,
        )
        self._thread.start()
        deadline = time.monotonic() + 15
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise ConfigError("the local monitor did not start")
            time.sleep(0.01)

    def stop(self) -> None:
        """Stop serving, close the database and remove a temporary database."""
        if self._runner is not None:
            self._runner.close()
            self._runner = None
            self._adapter = None
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._thread = None
        self._server = None
        if self._app is not None:
            self._app.state.close_writer()
            self._app = None
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        if self.store is not None:
            self.store.dispose()
            self.store = None
        if self._tmpdir is not None:
            shutil.rmtree(self._tmpdir, ignore_errors=True)
            self._tmpdir = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        if self.in_process:
            where = f"{self.base_url} (in-process)" if self._runner else "(in-process)"
        else:
            where = self.base_url if self.port else f"{self.host}:<unbound>"
        return f"<LocalMonitor {state} {where} db={self.db_url or '<temporary sqlite>'} users={len(self.tokens)}>"

    # ------------------------------------------------------------------ users
    def _need_store(self) -> Store:
        if self.store is None:
            raise ConfigError("the LocalMonitor is not started (use start() or a with block)")
        return self.store

    def add_user(self, name: str) -> str:
        """Create user ``name`` and return its 40-hex API token."""
        token = add_user(self._need_store(), name)
        self.tokens[name] = token
        return token

    def rotate_token(self, name: str, *, revoke_sessions: bool = False) -> str:
        """Give ``name`` a new API token and return it; ``revoke_sessions`` also ends the bearer
        tokens already issued to ``name`` (``spackmon users token --revoke-sessions``)."""
        store = self._need_store()
        token = rotate_token(store, name)
        if revoke_sessions:
            _revoke_sessions(store, name)
        self.tokens[name] = token
        return token

    # ------------------------------------------------------------------ sessions
    def mount(self, session: requests.Session) -> requests.Session:
        """``session`` able to reach this server, returned: in-process, the adapter that calls
        the application is mounted for :attr:`url`; on a port, nothing is needed."""
        if self.in_process:
            if self._adapter is None:
                raise ConfigError("the LocalMonitor is not started (use start() or a with block)")
            session.mount(self.url + "/", self._adapter)
        return session

    def session(self) -> requests.Session:
        """A new ``requests.Session`` that reaches this server (see :meth:`mount`)."""
        return self.mount(requests.Session())


def _loop_impl() -> str:
    """uvicorn's ``uvloop`` event loop when installed (faster), else ``asyncio``."""
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return "asyncio"
    return "uvloop"


class _CoalescingTransport:
    """A transport whose writes leave together at the end of the event-loop iteration.

    uvicorn writes a response's status line and headers, then its body, as two ``write`` calls
    (two ``send`` system calls, two TCP segments with ``TCP_NODELAY``). Buffering them until the
    loop's next turn sends one segment per response; nothing is held back longer than that, and
    ``close`` sends what is buffered first.
    """

    __slots__ = ("_transport", "_loop", "_chunks")

    def __init__(self, transport: Any, loop: Any):
        self._transport = transport
        self._loop = loop
        self._chunks: list[bytes] = []

    def write(self, data: bytes) -> None:
        if not data:
            return
        if not self._chunks:
            self._loop.call_soon(self._flush)
        self._chunks.append(data)

    def _flush(self) -> None:
        if self._chunks:
            data = self._chunks[0] if len(self._chunks) == 1 else b"".join(self._chunks)
            self._chunks = []
            if not self._transport.is_closing():
                self._transport.write(data)

    def writelines(self, lines: Any) -> None:
        for data in lines:
            self.write(data)

    def close(self) -> None:
        self._flush()
        self._transport.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


_COALESCING: dict[str, type] = {}


def _http_impl(limits: TransportLimits | None = None) -> Any:
    """uvicorn's ``httptools`` protocol when installed (faster, one write per response) with the
    transport limits of :mod:`.guard` (default :class:`TransportLimits`), else ``h11`` (which
    enforces only its own header size limit; see docs/server.md)."""
    try:
        import httptools  # noqa: F401
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
    except ImportError:
        return "h11"
    if "httptools" not in _COALESCING:

        class CoalescingHttpToolsProtocol(HttpToolsProtocol):
            def connection_made(self, transport: Any) -> None:
                # Duck-typed, not an asyncio.Transport subclass: every method it does not define
                # is the wrapped transport's (``__getattr__``).
                coalescing: Any = _CoalescingTransport(transport, self.loop)
                super().connection_made(coalescing)

        _COALESCING["httptools"] = CoalescingHttpToolsProtocol
    return guarded_protocol(_COALESCING["httptools"], limits or TransportLimits())


def uvicorn_options(
    limits: TransportLimits | None = None, forwarded_allow_ips: str | None = None
) -> dict[str, Any]:
    """The uvicorn settings every server of this package runs with (``spackmon serve`` and
    :class:`LocalMonitor`): the guarded protocol, and ``X-Forwarded-For``/``-Proto`` trusted
    only from the addresses of ``forwarded_allow_ips`` (uvicorn's own default trusts them from
    127.0.0.1, so anyone on the machine could choose the address the login limiter sees)."""
    limits = limits or TransportLimits()
    return {
        "http": _http_impl(limits),
        "h11_max_incomplete_event_size": limits.max_header_bytes,
        "proxy_headers": forwarded_allow_ips is not None,
        "forwarded_allow_ips": forwarded_allow_ips if forwarded_allow_ips is not None else "",
        "server_header": False,
        "date_header": False,
    }
