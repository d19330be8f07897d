"""Database lock waits are bounded and block neither reads nor service info (issue 14).

Another process holds the database's write lock (SQLite: a ``BEGIN IMMEDIATE`` transaction on
the same file, as a second server or a ``sqlite3`` shell would; PostgreSQL: a transaction
holding ``LOCK TABLE builds IN EXCLUSIVE MODE``). A write must give up after ``db_wait``
seconds in all with 503 and ``Retry-After`` (before: 5 x 30 s on the event loop, during which
every request waited), while service info and data-API reads answer at once; once the lock is
released the same write succeeds.
"""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager

import pytest
import relhelp
import requests
from sqlalchemy import create_engine, text
from testlib import BUILD_ENV

from spackmon_analysis.server import LocalMonitor

WAIT = 1.0  # db_wait of the server under test (seconds)


@contextmanager
def held_lock(url: str):
    """Hold the lock a write needs, from another connection, until the block ends."""
    engine = create_engine(url)
    conn = engine.connect()
    try:
        if url.startswith("sqlite"):
            raw = conn.connection.driver_connection
            raw.isolation_level = None
            raw.execute("BEGIN IMMEDIATE")
            try:
                yield
            finally:
                raw.execute("ROLLBACK")
        else:
            trans = conn.begin()
            conn.execute(text("LOCK TABLE builds IN EXCLUSIVE MODE"))
            try:
                yield
            finally:
                trans.rollback()
    finally:
        conn.close()
        engine.dispose()


@pytest.mark.parametrize("backend", relhelp.BACKENDS)
def test_lock_wait_is_bounded_and_reads_go_on(backend, tmp_path):
    with relhelp.database(backend, tmp_path) as url, LocalMonitor(url, db_wait=WAIT) as mon:
        mon.add_user("u")
        s = requests.Session()
        tok = s.get(f"{mon.base_url}/auth/token/", auth=("u", mon.tokens["u"])).json()["token"]
        s.headers["Authorization"] = "Bearer " + tok
        doc = (relhelp.TESTS / "data/specs/zlib-spack-0.17.1.json").read_text()
        r = s.post(
            f"{mon.base_url}/specs/new/", data='{"spec": ' + doc + ', "spack_version": "0.17.1"}'
        )
        assert r.status_code == 201, r.text[:300]
        full_hash = r.json()["data"]["spec"]["full_hash"]
        r = s.post(
            f"{mon.base_url}/builds/new/",
            json={**BUILD_ENV, "spack_version": "0.17.1", "full_hash": full_hash},
        )
        build_id = r.json()["data"]["build"]["build_id"]
        update = {"build_id": build_id, "status": "SUCCESS"}
        answers: dict = {}

        def write() -> None:
            start = time.monotonic()
            answers["write"] = s.post(f"{mon.base_url}/builds/update/", json=update, timeout=60)
            answers["took"] = time.monotonic() - start

        with held_lock(url):
            writer = threading.Thread(target=write)
            writer.start()
            time.sleep(0.2)  # the write is waiting for the lock now
            reads = []
            for path in ("/ms1/", "/api/builds/", "/api/specs/?limit=5"):
                start = time.monotonic()
                r = requests.get(f"{mon.url}{path}", timeout=10)
                reads.append((path, r.status_code, time.monotonic() - start))
            writer.join(timeout=60)
        assert not writer.is_alive()
        for path, status, took in reads:
            assert status == 200, path
            assert took < 0.5 * WAIT + 0.5, f"{path} waited {took:.2f} s behind the lock"
        r = answers["write"]
        assert r.status_code == 503, r.text
        assert r.headers["Retry-After"] == "1"
        assert "busy" in r.json()["message"] and "nothing was written" in r.json()["message"]
        assert WAIT * 0.8 < answers["took"] < WAIT + 3, answers["took"]
        relhelp.record(
            f"db lock [{backend}] write answered 503 after (s)", round(answers["took"], 2)
        )
        # nothing was written; with the lock gone the same write goes through
        assert requests.get(f"{mon.url}/api/builds/").json()["results"][0]["status"] != "SUCCESS"
        r = s.post(f"{mon.base_url}/builds/update/", json=update, timeout=30)
        assert r.status_code == 200, r.text
        assert requests.get(f"{mon.url}/api/builds/").json()["results"][0]["status"] == "SUCCESS"


def test_db_wait_must_be_positive():
    from spackmon_analysis.server.app import create_app

    for bad in (0, -1, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="db_wait"):
            create_app("sqlite://", db_wait=bad)
