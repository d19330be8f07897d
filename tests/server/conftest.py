"""Fixtures for the server tests: a real LocalMonitor over SQLite and PostgreSQL.

The monitor runs in-process (``LocalMonitor(in_process=True)``: the real application, store and
database, reached through a ``requests`` adapter with no socket); a module or test marked
``real_socket`` gets it on a real loopback port instead, for what lies below the application
(a client's own HTTP stack, uvicorn, the transport limits). Sessions that reach ``mon`` come
from ``mon.session()`` (or the ``http`` fixture).

PostgreSQL runs when ``SPACKMON_TEST_POSTGRES_URL`` is set; each test gets a fresh schema (via
``search_path``) that is dropped afterwards. With ``SPACKMON_REQUIRE_POSTGRES=1`` a missing or
unreachable PostgreSQL fails the test instead of skipping it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pytest
import requests
from sqlalchemy import func, select

from spackmon_analysis.server import LocalMonitor
from spackmon_analysis.server.tables import metadata


@pytest.fixture
def mon(db_url: str | None, request: pytest.FixtureRequest) -> Iterator[LocalMonitor]:
    """A running LocalMonitor with users ``alice`` and ``bob`` (in-process unless the test is
    marked ``real_socket``)."""
    in_process = request.node.get_closest_marker("real_socket") is None
    with LocalMonitor(db_url, in_process=in_process) as m:
        m.add_user("alice")
        m.add_user("bob")
        yield m


def _module_monitor(database: str, *, in_process: bool) -> Iterator[LocalMonitor]:
    with contextlib.ExitStack() as stack:
        url = None
        if database == "postgresql":
            from testlib import postgres_schema

            url = stack.enter_context(postgres_schema(prepared=True))
        m = stack.enter_context(LocalMonitor(url, in_process=in_process))
        m.add_user("alice")
        m.add_user("bob")
        yield m


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def module_mon(request: pytest.FixtureRequest) -> Iterator[LocalMonitor]:
    """One in-process LocalMonitor (users ``alice`` and ``bob``) per module and database, for
    tests of requests the server refuses: each checks its own answer and that no table's row
    count changed (``module_counts``), so they need not each start a monitor of their own."""
    yield from _module_monitor(request.param, in_process=True)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def module_socket_mon(request: pytest.FixtureRequest) -> Iterator[LocalMonitor]:
    """``module_mon`` on a real loopback port (for the exact bytes of a request on the
    wire), one per module and database."""
    yield from _module_monitor(request.param, in_process=False)


@pytest.fixture(scope="module")
def module_alice(module_mon: LocalMonitor) -> Api:
    return Api(module_mon, "alice")


@pytest.fixture(scope="module")
def module_counts(module_mon: LocalMonitor):
    """``module_counts()`` -> row count of every table of ``module_mon``."""
    return lambda: row_counts(module_mon)


@pytest.fixture
def http(mon: LocalMonitor) -> Iterator[requests.Session]:
    """An unauthenticated ``requests.Session`` that reaches ``mon``."""
    with mon.session() as s:
        yield s


class Api:
    """A requests session authenticated as one user through the real token flow."""

    def __init__(self, mon: LocalMonitor, user: str):
        self.mon = mon
        self.base = mon.base_url
        self.s = mon.session()
        r = self.s.get(f"{self.base}/auth/token/", auth=(user, mon.tokens[user]))
        assert r.status_code == 200, r.text
        self.s.headers["Authorization"] = "Bearer " + r.json()["token"]

    def post(self, path: str, body: object | None = None, *, data: bytes | str | None = None):
        """POST JSON (as Spack does: form content type) to ``<base>/<path>``."""
        import json

        payload = data if data is not None else json.dumps(body)
        return self.s.post(
            f"{self.base}/{path}",
            data=payload,
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )


@pytest.fixture
def alice(mon: LocalMonitor) -> Api:
    return Api(mon, "alice")


@pytest.fixture
def bob(mon: LocalMonitor) -> Api:
    return Api(mon, "bob")


@pytest.fixture
def make_api(mon: LocalMonitor):
    """``make_api(user)`` -> an authenticated :class:`Api`."""
    return lambda user: Api(mon, user)


@pytest.fixture
def counts(mon: LocalMonitor):
    """``counts()`` -> row count of every table."""
    return lambda: row_counts(mon)


@pytest.fixture
def bulk(mon: LocalMonitor):
    """``bulk(route, **filters)`` -> every row through ``/api/<route>/all/``."""
    return lambda route, **params: api_all(mon, route, **params)


def row_counts(mon: LocalMonitor) -> dict[str, int]:
    """Row count of every table (to prove a rejected request changed nothing)."""
    with mon.store.read.connect() as conn:
        return {
            t.name: conn.execute(select(func.count()).select_from(t)).scalar()
            for t in metadata.sorted_tables
        }


def api_all(mon: LocalMonitor, route: str, **params: object) -> list[dict]:
    """Every row of a data API route through the bulk NDJSON path."""
    import json

    with mon.session() as s:
        r = s.get(f"{mon.url}/api/{route}/all/", params=params)
    assert r.status_code == 200, r.text
    # the body is UTF-8 (NDJSON carries no charset); lines end in \n only
    return [json.loads(line) for line in r.content.decode("utf-8").split("\n") if line]
