"""Helpers shared by several test folders, importable as ``testlib`` (tests/conftest.py puts
this directory on ``sys.path``): a fresh PostgreSQL schema per test, the installed
``spackmon`` console script, and one build environment for protocol requests.

PostgreSQL runs when ``SPACKMON_TEST_POSTGRES_URL`` is set; the schema is selected through
``search_path`` and dropped afterwards.
"""

from __future__ import annotations

import os
import shutil
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

import pytest
from sqlalchemy import create_engine, text

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


@contextmanager
def postgres_schema() -> Iterator[str]:
    """A URL to a fresh PostgreSQL schema (dropped afterwards); skips without PostgreSQL.

    ``SPACKMON_REQUIRE_POSTGRES=1`` (set by .ci/run) turns a skip into a failure.
    """
    url = os.environ.get(PG_ENV)
    required = os.environ.get("SPACKMON_REQUIRE_POSTGRES") == "1"
    if not url:
        if required:
            pytest.fail(f"SPACKMON_REQUIRE_POSTGRES=1 but {PG_ENV} is not set")
        pytest.skip(f"{PG_ENV} not set")
    schema = "r_" + uuid.uuid4().hex[:12]
    try:
        admin = create_engine(url)
        with admin.begin() as conn:
            conn.execute(text(f"CREATE SCHEMA {schema}"))
    except Exception as exc:  # unreachable server
        if required:
            pytest.fail(f"PostgreSQL at {PG_ENV} unreachable: {exc}")
        pytest.skip(f"PostgreSQL unreachable: {exc}")
    sep = "&" if "?" in url else "?"
    try:
        yield f"{url}{sep}options={quote(f'-csearch_path={schema}')}"
    finally:
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()
