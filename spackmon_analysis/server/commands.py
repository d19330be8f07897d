"""``spackmon serve`` and ``spackmon users add|token|list``."""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable
from pathlib import Path

__all__ = ["register"]


def _db_help() -> str:
    return (
        "database URL or SQLite file path (default: $SPACKMON_DB, else sqlite in "
        "$XDG_DATA_HOME/spackmon/spackmon.db or ~/.local/share/spackmon/spackmon.db); e.g. "
        "postgresql+psycopg://user@host/db or ./monitor.db"
    )


def _int_arg(what: str, low: int, high: int | None = None) -> Callable[[str], int]:
    """An argparse type: an integer in [low, high] (a clear message otherwise)."""

    def parse(text: str) -> int:
        span = f"between {low} and {high}" if high is not None else f"at least {low}"
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{what} must be an integer {span}, got {text!r}"
            ) from None
        if value < low or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"{what} must be an integer {span}, got {value}")
        return value

    return parse


def _positive_float(what: str, *, zero: bool = False) -> Callable[[str], float]:
    """An argparse type: a finite number > 0 (>= 0 with ``zero``)."""

    def parse(text: str) -> float:
        bound = "zero or more" if zero else "greater than zero"
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{what} must be a number {bound}, got {text!r}"
            ) from None
        if not math.isfinite(value) or value < 0 or (value == 0 and not zero):
            raise argparse.ArgumentTypeError(f"{what} must be a number {bound}, got {text}")
        return value

    return parse


def _db_arg(text: str) -> str:
    """``--db``: a database URL, or a plain file path taken as a SQLite database."""
    from .tables import as_db_url

    return as_db_url(text)


def _serve(args: argparse.Namespace) -> int:
    import time

    import uvicorn

    from ..errors import ConfigError
    from .guard import TransportLimits
    from .local import _loop_impl, uvicorn_options
    from .tables import Store, default_db_url
    from .workers import ServeSettings, build_app, check_workers, run_workers

    max_body = args.max_body_size
    if args.max_body_mb is not None:
        max_body = int(args.max_body_mb * 1024 * 1024)
    if max_body <= 0:
        raise ConfigError("the body size limit must be at least one byte")
    try:
        limits = TransportLimits(
            max_header_bytes=args.max_header_kb * 1024,
            header_timeout=args.header_timeout,
            body_timeout=args.body_timeout,
            max_connections=args.max_connections,
        )
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    db_url = _db_arg(args.db or default_db_url())
    check_workers(args.workers, db_url)
    _check_port_free(args.host, args.port)
    # Opened here first: the schema is checked (or created) once, before any worker starts.
    store = Store.open(db_url)
    settings = ServeSettings(
        db_url=store.url,
        token_lifetime=args.token_lifetime,
        max_body_size=max_body,
        auth_failure_limit=args.auth_failures,
        auth_failure_window=args.auth_window,
        db_wait=args.db_wait,
        limits=limits,
        forwarded_allow_ips=args.forwarded_allow_ips,
        started=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        batch_max_items=args.batch_max_items,
    )
    workers = f", {args.workers} worker processes" if args.workers > 1 else ""
    print(
        f"spackmon: serving http://{args.host}:{args.port}/ms1/ (data API /api/, docs /api/docs) "
        f"on {store.url.split('@')[-1]}{workers}",
        file=sys.stderr,
        flush=True,
    )
    if args.workers > 1:
        store.dispose()  # the workers open their own connections
        run_workers(
            settings,
            host=args.host,
            port=args.port,
            workers=args.workers,
            log_level=args.log_level,
            access_log=args.access_log,
        )
        return 0
    uvicorn.run(
        build_app(settings, store),
        host=args.host,
        port=args.port,
        log_level=args.log_level,
        access_log=args.access_log,
        loop=_loop_impl(),
        lifespan="off",
        **uvicorn_options(limits, args.forwarded_allow_ips),
    )
    return 0


def _check_port_free(host: str, port: int) -> None:
    """Fail with a one-line message, before anything is printed or opened, when ``host:port``
    cannot be bound (in use, or an address this machine does not have)."""
    import socket

    from ..errors import ConfigError

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise ConfigError(f"--host {host}: cannot resolve it ({exc.strerror})") from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            raise ConfigError(
                f"cannot listen on {host}:{port}: {exc.strerror or exc} "
                "(another server there? choose another --port)"
            ) from None


def _existing_store(db: str | None):  # noqa: ANN202 - Store, imported lazily
    """The store of an existing database: ``users token``/``users list`` never create one."""
    from ..errors import ConfigError
    from .tables import Store, as_db_url, default_db_url

    url = as_db_url(db or default_db_url())
    if url.startswith("sqlite:///") and ":memory:" not in url:
        path = url[len("sqlite:///") :].split("?", 1)[0]
        if not Path(path).expanduser().is_file():
            raise ConfigError(
                f"no database at {path}: `spackmon users add NAME` (or `spackmon serve`) creates it"
            )
    return Store.open(url)


def _users_add(args: argparse.Namespace) -> int:
    from .auth import add_user
    from .tables import Store

    print(add_user(Store.open(args.db), args.name))
    return 0


def _users_token(args: argparse.Namespace) -> int:
    from .auth import revoke_sessions, rotate_token

    store = _existing_store(args.db)
    token = rotate_token(store, args.name)
    if args.revoke_sessions:
        revoke_sessions(store, args.name)
    print(token)
    return 0


def _users_list(args: argparse.Namespace) -> int:
    from .auth import list_users

    for user in list_users(_existing_store(args.db)):
        print(
            f"{user['id']}\t{user['username']}\tcreated {user['created_at']:%Y-%m-%dT%H:%M:%SZ}"
            f"\ttoken set {user['token_updated_at']:%Y-%m-%dT%H:%M:%SZ}"
        )
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``serve`` and ``users`` to the ``spackmon`` command line."""
    serve = subparsers.add_parser(
        "serve",
        help="run the embedded Spack Monitor server (ms1 + /api/)",
        description=(
            "Run the Spack Monitor server in the foreground (Ctrl-C stops it): the ms1 API that "
            "`spack install --monitor` talks to, with token authentication, and the read-only "
            "data API under /api/. It prints its URL (http://HOST:PORT/ms1/, usable as "
            "SPACKMON_HOST). Create users with `spackmon users add NAME`."
        ),
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    serve.add_argument(
        "--port", type=_int_arg("--port", 1, 65535), default=5000, help="port (default 5000)"
    )
    serve.add_argument("--db", default=None, type=_db_arg, help=_db_help())
    serve.add_argument(
        "--workers",
        type=_int_arg("--workers", 1, 256),
        default=1,
        help="server processes on the port, sharing the database (default 1); more than one "
        "needs a PostgreSQL --db. Logins, tokens and limits hold across them (docs/server.md)",
    )
    serve.add_argument(
        "--token-lifetime",
        type=_int_arg("--token-lifetime", 1),
        default=6000,
        help="bearer token lifetime in seconds (default 6000)",
    )
    limit = serve.add_mutually_exclusive_group()
    limit.add_argument(
        "--max-body-mb",
        type=_positive_float("--max-body-mb"),
        default=None,
        help="largest request body in MiB; larger ones get 413 (default 100)",
    )
    limit.add_argument(
        "--max-body-size",
        type=_int_arg("--max-body-size", 1),
        default=100 * 1024 * 1024,
        help="the same limit in bytes (default 104857600 = 100 MiB)",
    )
    serve.add_argument(
        "--auth-failures",
        type=_int_arg("--auth-failures", 0),
        default=10,
        help="failed token requests per address per --auth-window before 429 (0 = no limit; default 10)",
    )
    serve.add_argument(
        "--auth-window",
        type=_positive_float("--auth-window"),
        default=60.0,
        help="seconds of that window (default 60)",
    )
    serve.add_argument(
        "--db-wait",
        type=_positive_float("--db-wait"),
        default=15.0,
        help="longest wait of a request for the database's locks, s; then 503 with "
        "Retry-After (default 15)",
    )
    serve.add_argument(
        "--batch-max-items",
        type=_int_arg("--batch-max-items", 0),
        default=1000,
        help="most writes in one request of the batch extension (POST /ms1/batch/, advertised "
        "in the service info, used by spackmon's client); 0 turns it off: plain ms1 "
        "(default 1000)",
    )
    serve.add_argument(
        "--max-header-kb",
        type=_int_arg("--max-header-kb", 1),
        default=64,
        help="largest request header block in KiB; larger ones get 431 (default 64)",
    )
    serve.add_argument(
        "--header-timeout",
        type=_positive_float("--header-timeout"),
        default=10.0,
        help="seconds a request's headers may take to arrive (default 10)",
    )
    serve.add_argument(
        "--body-timeout",
        type=_positive_float("--body-timeout"),
        default=30.0,
        help="seconds a request body may stall; after that long it must also average "
        "1 KiB/s (default 30)",
    )
    serve.add_argument(
        "--max-connections",
        type=_int_arg("--max-connections", 1),
        default=None,
        help="open connections at most; beyond, the oldest one not waiting for an answer is "
        "closed (default: the descriptor limit less a reserve)",
    )
    serve.add_argument(
        "--forwarded-allow-ips",
        default=None,
        metavar="ADDRS",
        help="trust X-Forwarded-For/-Proto only from these comma-separated proxy addresses or "
        "networks ('*' for any); by default they are never trusted",
    )
    serve.add_argument(
        "--log-level",
        default="warning",
        choices=("critical", "error", "warning", "info", "debug", "trace"),
        help="uvicorn log level (default warning)",
    )
    serve.add_argument("--access-log", action="store_true", help="log every request (default: off)")
    serve.set_defaults(func=_serve)

    users = subparsers.add_parser(
        "users",
        help="manage monitor users and their API tokens",
        description="Create users, rotate their API tokens and list them (in the server's database).",
    )
    sub = users.add_subparsers(dest="users_command", metavar="ACTION")
    add = sub.add_parser(
        "add",
        help="create a user and print its 40-hex API token",
        description="Create a user and print its API token (40 hex characters): the "
        "SPACKMON_TOKEN for SPACKMON_USER=NAME.",
    )
    add.add_argument("name", metavar="NAME", help="user name (the SPACKMON_USER of its builds)")
    add.add_argument("--db", default=None, type=_db_arg, help=_db_help())
    add.set_defaults(func=_users_add)
    tok = sub.add_parser(
        "token",
        help="rotate a user's API token and print the new one",
        description="Give a user a new API token and print it; the old one stops working.",
    )
    tok.add_argument("name", metavar="NAME", help="an existing user's name")
    tok.add_argument(
        "--revoke-sessions",
        action="store_true",
        help="also end the bearer tokens already issued to the user, in every server on the "
        "database within about a second (default: they run until they expire)",
    )
    tok.add_argument("--db", default=None, type=_db_arg, help=_db_help())
    tok.set_defaults(func=_users_token)
    lst = sub.add_parser(
        "list",
        help="list users",
        description="List users: id, name, creation time and last token rotation.",
    )
    lst.add_argument("--db", default=None, type=_db_arg, help=_db_help())
    lst.set_defaults(func=_users_list)
    users.set_defaults(func=lambda _args: (users.print_help(), 2)[1])
