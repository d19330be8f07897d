"""Helpers shared by several test folders, importable as ``testlib`` (tests/conftest.py puts
this directory on ``sys.path``): a fresh PostgreSQL schema per test, the installed
``spackmon`` console script, one build environment for protocol requests, and the figures the
reliability tests measure (collected from every pytest-xdist worker by tests/conftest.py).

PostgreSQL runs when ``SPACKMON_TEST_POSTGRES_URL`` is set; the schema is selected through
``search_path`` and dropped afterwards.
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


@contextmanager
def postgres_schema() -> Iterator[str]:
    """A URL to a fresh PostgreSQL schema (dropped afterwards); skips without PostgreSQL.

    ``SPACKMON_REQUIRE_POSTGRES=1`` (set by .ci/run) turns a skip into a failure.
    """
    reason = postgres_unavailable()
    if reason is not None:
        if os.environ.get("SPACKMON_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"SPACKMON_REQUIRE_POSTGRES=1 but {reason}")
        pytest.skip(f"{PG_SKIP_PREFIX} {reason}")
    from sqlalchemy import create_engine, text

    url = os.environ[PG_ENV]
    schema = "r_" + uuid.uuid4().hex[:12]
    admin = create_engine(url)
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    sep = "&" if "?" in url else "?"
    try:
        yield f"{url}{sep}options={quote(f'-csearch_path={schema}')}"
    finally:
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


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
