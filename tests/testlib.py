"""Helpers shared by several test folders, importable as ``testlib`` (tests/conftest.py puts
this directory on ``sys.path``): a PostgreSQL schema per test, the installed
``spackmon`` console script, one build environment for protocol requests, and the figures the
reliability tests measure (collected from every pytest-xdist worker by tests/conftest.py).

PostgreSQL runs when ``SPACKMON_TEST_POSTGRES_URL`` is set; the schema is selected through
``search_path``; it is new and dropped afterwards, or (``prepared=True``) taken emptied from this
process's pool of schemas holding the tables already.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import sys
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

PG_ENV = "SPACKMON_TEST_POSTGRES_URL"

#: The five build-environment fields of a ``builds/new`` body (PROTOCOL section 2).
BUILD_ENV = {
    "host_os": "debian12",
    "platform": "linux",
    "host_target": "icelake",
    "hostname": "vm",
    "kernel_version": "6.1",
}


def spackmon_script() -> str:
    """The ``spackmon`` console script of this Python's environment (the README's install
    puts it there); the test fails when it is missing."""
    here = Path(sys.executable).parent / "spackmon"
    found = str(here) if here.exists() else shutil.which("spackmon")
    if not found:
        pytest.fail("the spackmon console script is not installed next to this Python")
    return found


#: Every PostgreSQL skip starts with this; ``tests/conftest.py`` folds those skips into one
#: line of pytest's short summary.
PG_SKIP_PREFIX = "PostgreSQL tests skipped:"
_PG_UNAVAILABLE: list[str | None] = []  # the session's answer, found once


def postgres_unavailable() -> str | None:
    """Why this session cannot use PostgreSQL (None when it can); checked once per session.

    ``SPACKMON_REQUIRE_POSTGRES=1`` (set by .ci/run) turns the reason into a test failure.
    """
    if not _PG_UNAVAILABLE:
        url = os.environ.get(PG_ENV)
        reason = None
        if not url:
            reason = f"{PG_ENV} not set (a PostgreSQL URL runs them)"
        else:
            from sqlalchemy import create_engine, text

            try:
                engine = create_engine(url)
                try:
                    with engine.connect() as conn:
                        conn.execute(text("SELECT 1"))
                finally:
                    engine.dispose()
            except Exception as exc:  # unreachable server, bad URL, missing driver
                reason = f"PostgreSQL at {PG_ENV} unreachable: {str(exc).splitlines()[0]}"
        _PG_UNAVAILABLE.append(reason)
    return _PG_UNAVAILABLE[0]


def postgres_skip_location() -> tuple[str, int]:
    """(this file, the line of the ``pytest.skip`` in :func:`postgres_schema`), 1-based."""
    lines = Path(__file__).read_text().splitlines()
    line = next(i for i, t in enumerate(lines, 1) if 'pytest.skip(f"{PG_SKIP_PREFIX}' in t)
    return __file__, line


#: This process's prepared schemas (see :func:`postgres_schema`) that no test holds now, and
#: each one's shape (tables, columns, indexes, triggers, constraints) when it was made.
_FREE_PREPARED: list[str] = []
_SHAPES: dict[str, list[tuple[Any, ...]]] = {}
_ADMIN: list[Any] = []  # one engine per process for creating, emptying and dropping schemas
_SET_ASIDE: list[str] = []  # prepared schemas a lock kept from being emptied: dropped at the end
#: How long emptying a prepared schema waits for a lock another connection holds on it.
PREPARED_LOCK_WAIT = "10s"

#: A schema's shape: what a test could change in it (columns, indexes, triggers, constraints).
#: A prepared schema whose shape differs from the one it was made with is dropped instead of
#: reused.
_SHAPE_SQL = """
SELECT 'c', table_name, column_name, data_type || ':' || is_nullable
  FROM information_schema.columns WHERE table_schema = :s
UNION ALL SELECT 'i', tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = :s
UNION ALL SELECT 't', c.relname, t.tgname, ''
  FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
  JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = :s AND NOT t.tgisinternal
UNION ALL SELECT 'k', c.relname, k.conname, pg_get_constraintdef(k.oid)
  FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid
  JOIN pg_namespace n ON n.oid = k.connamespace WHERE n.nspname = :s
ORDER BY 1, 2, 3, 4
"""


def _admin() -> Any:
    if not _ADMIN:
        import atexit

        from sqlalchemy import create_engine

        _ADMIN.append(create_engine(os.environ[PG_ENV]))
        atexit.register(drop_free_prepared)
    return _ADMIN[0]


def _schema_url(schema: str) -> str:
    url = os.environ[PG_ENV]
    sep = "&" if "?" in url else "?"
    return f"{url}{sep}options={quote(f'-csearch_path={schema}')}"


def _drop_schema(schema: str) -> None:
    from sqlalchemy import text

    _SHAPES.pop(schema, None)
    with _admin().begin() as conn:
        conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))


def drop_free_prepared() -> None:
    """Drop this process's pooled prepared schemas (at the end of the session, and at exit);
    a schema a test holds is dropped or pooled when that test ends."""
    for pool in (_FREE_PREPARED, _SET_ASIDE):
        while pool:
            try:
                _drop_schema(pool.pop())
            except Exception:  # the server is gone already: nothing left to clean
                return
    for engine in _ADMIN:
        engine.dispose()


def _shape(conn: Any, schema: str) -> list[tuple[Any, ...]]:
    from sqlalchemy import text

    return [tuple(row) for row in conn.execute(text(_SHAPE_SQL), {"s": schema})]


def _take_prepared() -> str:
    """A schema holding this version's tables, as a new database holds them: every table
    emptied (sequences restarted) and the meta rows of a database created now."""
    from sqlalchemy import text
    from sqlalchemy.exc import OperationalError

    from spackmon_analysis.server.tables import Store, meta, metadata, new_database_meta

    while True:
        if not _FREE_PREPARED:
            schema = "r_" + uuid.uuid4().hex[:12]
            with _admin().begin() as conn:
                conn.execute(text(f"CREATE SCHEMA {schema}"))
            try:
                Store.open(_schema_url(schema)).dispose()  # the server's own creation, once
                with _admin().connect() as conn:
                    _SHAPES[schema] = _shape(conn, schema)
            except BaseException:
                _drop_schema(schema)
                raise
            _FREE_PREPARED.append(schema)
        schema = _FREE_PREPARED.pop()
        tables = ", ".join(f"{schema}.{t.name}" for t in metadata.sorted_tables)
        insert = f"INSERT INTO {schema}.{meta.name} (key, value) VALUES (:key, :value)"
        try:
            with _admin().begin() as conn:
                # a connection an earlier test left open in a transaction must not hang the
                # next test: that schema is set aside (dropped at the end) and another made
                conn.execute(text(f"SET LOCAL lock_timeout = '{PREPARED_LOCK_WAIT}'"))
                conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
                conn.execute(text(insert), new_database_meta())
        except OperationalError:
            _SET_ASIDE.append(schema)
            continue
        return schema


@contextmanager
def postgres_schema(*, prepared: bool = False) -> Iterator[str]:
    """A URL to a PostgreSQL schema of its own (``search_path``); skips without PostgreSQL.

    By default the schema is new and empty, and dropped afterwards. ``prepared=True`` gives a
    schema that already holds this schema version's tables, empty, with the meta rows (version,
    a new JWT secret, creation time) of a database created now: what the server's first start
    makes of an empty schema, without the 17 tables' DDL for every test (0.04 s instead of
    0.12 s per test here). It goes back to this process's pool afterwards, unless the test
    changed its tables, columns, indexes, triggers or constraints (then it is dropped). A test
    about creating, migrating or refusing a database takes the default.

    ``SPACKMON_REQUIRE_POSTGRES=1`` (set by .ci/run) turns a skip into a failure.
    """
    reason = postgres_unavailable()
    if reason is not None:
        if os.environ.get("SPACKMON_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"SPACKMON_REQUIRE_POSTGRES=1 but {reason}")
        pytest.skip(f"{PG_SKIP_PREFIX} {reason}")
    from sqlalchemy import text

    if prepared:
        schema = _take_prepared()
    else:
        schema = "r_" + uuid.uuid4().hex[:12]
        with _admin().begin() as conn:
            conn.execute(text(f"CREATE SCHEMA {schema}"))
    reusable = False
    try:
        yield _schema_url(schema)
        reusable = prepared
    finally:
        if reusable:
            with _admin().connect() as conn:
                reusable = _shape(conn, schema) == _SHAPES.get(schema)
        if reusable:
            _FREE_PREPARED.append(schema)
        else:
            _drop_schema(schema)


def example_runs_database(path: Path) -> str:
    """A SQLite server database at ``path`` holding the first two bundled example save-local
    runs, replayed by alice through a real in-process server -> its URL."""
    from spackmon_analysis import LocalMonitor  # the one with .client()
    from spackmon_analysis.demo import example_data_dir

    runs = sorted(p for p in (example_data_dir() / "save-local").iterdir() if p.is_dir())
    with LocalMonitor(f"sqlite:///{path}", in_process=True) as mon:
        mon.add_user("alice")
        with mon.client("alice", progress=False, backoff=0) as client:
            assert not client.upload_local_save(runs[:2], progress=False).problems
        return str(mon.db_url)


def uploaded_and_offline(*paths: Path, **upload: Any) -> tuple[Any, Any]:
    """``(online, offline)``: ``paths`` sent by ``client.upload`` (with the keyword arguments
    ``upload``) to a new in-process server and pulled back with ``MonitorData.from_client``
    (the upload must name no problem), and the same paths read by ``load``."""
    import spackmon_analysis as sma

    with sma.LocalMonitor(in_process=True) as mon:
        mon.add_user("ci")
        with mon.client("ci", progress=False) as client:
            assert client.upload(*paths, **upload).problems == []
            online = sma.MonitorData.from_client(client)
    return online, sma.load(*paths)


#: Figures measured by the tests (``relhelp.record``/``relhelp.add``): printed in the
#: "reliability figures" block of the terminal summary (tests/conftest.py). Keys starting with
#: ``_`` are caches of one process, never reported.
FIGURES: dict[str, Any] = {}
#: The keys of FIGURES that count (``add_figure``): summed over the xdist workers.
COUNTED: set[str] = set()
_figures_lock = threading.Lock()


def record_figure(key: str, value: Any) -> None:
    """Record one measured figure (the last value per key wins)."""
    with _figures_lock:
        FIGURES[key] = value


def add_figure(key: str, n: int) -> None:
    """Add ``n`` to a counting figure (summed over the workers of a parallel run too)."""
    with _figures_lock:
        FIGURES[key] = FIGURES.get(key, 0) + n
        COUNTED.add(key)


def figures_to_send() -> dict[str, Any]:
    """This process's reported figures, as an xdist worker hands them to the controller."""
    with _figures_lock:
        return {
            "values": {k: v for k, v in FIGURES.items() if not k.startswith("_")},
            "counted": sorted(COUNTED),
        }


def merge_figures(sent: dict[str, Any]) -> None:
    """Merge a worker's :func:`figures_to_send` into this process's FIGURES: counting figures
    add up, the others are the worker's values (each test runs in one worker)."""
    counted = set(sent.get("counted", ()))
    with _figures_lock:
        for key, value in sent.get("values", {}).items():
            if key in counted:
                FIGURES[key] = FIGURES.get(key, 0) + value
                COUNTED.add(key)
            else:
                FIGURES[key] = value


_LOCAL_ID = re.compile(r"[0-9a-f]{32}")


def copy_run(source: Path, folder: Path, when: datetime) -> Path:
    """The save-local run ``source`` as a later run of Spack at ``when``: a run directory
    named as Spack names them, every local build id replaced by a new one (a new run gets
    new ids), content otherwise byte for byte."""
    name = when.strftime("%Y-%m-%d-%H-%M-%S-") + str(int(when.timestamp()))
    target = folder / name
    target.mkdir(parents=True)

    def new_id(match: re.Match[str]) -> str:
        return hashlib.md5(f"{match.group(0)}-{name}".encode()).hexdigest()  # noqa: S324

    for file in source.iterdir():
        text = file.read_text()
        (target / _LOCAL_ID.sub(new_id, file.name)).write_text(_LOCAL_ID.sub(new_id, text))
    return target


def schema_version(url: str) -> str:
    """The schema version a monitor database at ``url`` records (``spackmon_meta``), read
    without opening it as a store (which would migrate it)."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(
                text("SELECT value FROM spackmon_meta WHERE key = 'schema_version'")
            ).scalar_one()
    finally:
        engine.dispose()
