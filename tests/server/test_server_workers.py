"""`spackmon serve --workers N`: several processes on one PostgreSQL database answer as one server.

Real processes on real ports over a real PostgreSQL schema. Each worker names its pid in an
``X-Spackmon-Worker`` header (``SPACKMON_TEST_WORKER_HEADER=1``, a hook for tests only), so a
test knows which process answered; every request below opens a new connection, which the kernel
hands to whichever worker accepts it first, and a test keeps asking until every worker answered.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests
from sqlalchemy import inspect
from testlib import postgres_schema

from spackmon_analysis.server.auth import add_user
from spackmon_analysis.server.tables import Store, auth_failures
from spackmon_analysis.server.workers import WORKER_HEADER, WORKER_HEADER_ENV

SPEC = Path(__file__).resolve().parents[1] / "data" / "specs" / "tinyapp-spack-0.17.1.json"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _new_user(url: str, name: str = "alice") -> str:
    store = Store.open(url)
    try:
        return add_user(store, name)
    finally:
        store.dispose()


@contextmanager
def serve(url: str, tmp_path: Path, *args: str, workers: int = 2) -> Iterator[tuple[str, set[str]]]:
    """``spackmon serve --workers N`` on a free port -> (base URL, the workers' pids), once every
    worker answers; stopped with SIGTERM afterwards (and every worker must be gone then)."""
    port = _free_port()
    log = tmp_path / f"serve-{port}.log"
    env = {**os.environ, WORKER_HEADER_ENV: "1"}
    cmd = [sys.executable, "-m", "spackmon_analysis", "serve", "--port", str(port), "--db", url]
    cmd += ["--workers", str(workers), *args]
    with open(log, "wb") as err:
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err, env=env)
    base = f"http://127.0.0.1:{port}/ms1"
    pids: set[str] = set()
    try:
        deadline = time.monotonic() + 90
        while len(pids) < workers:
            assert proc.poll() is None, f"serve exited {proc.returncode}: {log.read_text()}"
            assert time.monotonic() < deadline, f"only workers {pids} answered: {log.read_text()}"
            try:
                r = requests.get(f"{base}/", timeout=5, headers={"Connection": "close"})
            except requests.ConnectionError:
                time.sleep(0.1)
                continue
            assert r.status_code == 200
            pids.add(r.headers[WORKER_HEADER])
        yield base, pids
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise
    deadline = time.monotonic() + 10
    for pid in pids:  # the workers stop with their parent
        while _alive(int(pid)):
            assert time.monotonic() < deadline, f"worker {pid} outlived serve"
            time.sleep(0.1)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"


def each_worker(
    pids: set[str], request: Callable[[], requests.Response], tries: int = 400
) -> dict[str, requests.Response]:
    """``request()`` (a new connection each time) until every worker answered once: pid ->
    its first answer."""
    answers: dict[str, requests.Response] = {}
    for _ in range(tries):
        r = request()
        answers.setdefault(r.headers[WORKER_HEADER], r)
        if set(answers) == pids:
            return answers
    raise AssertionError(f"in {tries} connections only workers {set(answers)} of {pids} answered")


def _get(url: str, **kw) -> requests.Response:
    return requests.get(url, timeout=30, headers={"Connection": "close"}, **kw)


def _upload(base: str, bearer: str) -> requests.Response:
    body = {"spec": json.loads(SPEC.read_text()), "spack_version": "0.17.1"}
    return requests.post(
        f"{base}/specs/new/",
        data=json.dumps(body),
        timeout=30,
        headers={"Authorization": f"Bearer {bearer}", "Connection": "close"},
    )


@pytest.mark.slow
@pytest.mark.real_socket
@pytest.mark.postgres
def test_a_bearer_from_one_worker_is_accepted_by_every_worker(tmp_path):
    with postgres_schema() as url:
        api_token = _new_user(url)
        with serve(url, tmp_path) as (base, pids):
            assert len(pids) == 2
            # one service: the same service info from each worker (its start time included)
            infos = each_worker(pids, lambda: _get(f"{base}/"))
            assert len({r.content for r in infos.values()}) == 1
            # a bearer issued by each worker ...
            issued = each_worker(
                pids, lambda: _get(f"{base}/auth/token/", auth=("alice", api_token))
            )
            bearers = {pid: r.json()["token"] for pid, r in issued.items()}
            for issuer, bearer in bearers.items():
                # ... writes through every worker, the other one included
                answers = each_worker(pids, lambda bearer=bearer: _upload(base, bearer))
                for pid, r in answers.items():
                    assert r.status_code in (200, 201), (issuer, pid, r.status_code, r.text)
            # the spec was stored once, whichever worker wrote it
            r = _get(f"{base.removesuffix('/ms1')}/api/specs/", params={"name": "tinyapp"})
            assert r.status_code == 200 and r.json()["count"] == 1

            # `spackmon users token --revoke-sessions` ends those bearers in every worker
            from spackmon_analysis.cli import main

            assert main(["users", "token", "alice", "--revoke-sessions", "--db", url]) == 0
            old = next(iter(bearers.values()))
            deadline = time.monotonic() + 30
            refused: dict[str, requests.Response] = {}
            while set(refused) != pids:
                assert time.monotonic() < deadline, f"only workers {set(refused)} refused"
                r = _upload(base, old)
                if r.status_code == 401:
                    refused[r.headers[WORKER_HEADER]] = r
                else:  # a worker trusts its copy of the revocations for at most a second
                    assert r.status_code in (200, 201)
                    time.sleep(0.05)
            for r in refused.values():
                assert "invalid or expired" in r.json()["message"]
            # after which every worker refuses it, however many connections ask
            for _ in range(20):
                assert _upload(base, old).status_code == 401


@pytest.mark.slow
@pytest.mark.real_socket
@pytest.mark.postgres
def test_the_failed_login_limit_counts_across_workers(tmp_path):
    limit = 6
    with postgres_schema() as url:
        api_token = _new_user(url)
        args = ("--auth-failures", str(limit), "--auth-window", "600")
        with serve(url, tmp_path, *args) as (base, pids):
            failed_at = []
            for _ in range(limit):
                r = _get(f"{base}/auth/token/", auth=("alice", "0" * 40))
                assert r.status_code == 403
                failed_at.append(r.headers[WORKER_HEADER])
            # the failures were spread over the workers as the kernel chose; every worker now
            # refuses the address, even with the right token, since the failures are counted
            # in the database and not in each process
            answers = each_worker(
                pids, lambda: _get(f"{base}/auth/token/", auth=("alice", api_token))
            )
            for pid, r in answers.items():
                assert r.status_code == 429, (pid, failed_at, r.status_code, r.text)
                assert "Too many failed authentication attempts" in r.json()["message"]
                assert 1 <= int(r.headers["Retry-After"]) <= 600


@pytest.mark.slow
@pytest.mark.real_socket
@pytest.mark.postgres
def test_two_servers_on_one_database_share_the_failed_login_limit(tmp_path):
    """Two separate `spackmon serve` processes (behind one proxy, say): three failures at each
    make four... six, and both refuse the seventh attempt."""
    with postgres_schema() as url:
        api_token = _new_user(url)
        args = ("--auth-failures", "6", "--auth-window", "600")
        with (
            serve(url, tmp_path, *args, workers=1) as (one, _),
            serve(url, tmp_path, *args, workers=1) as (two, _),
        ):
            for base in (one, two, one, two, one, two):
                assert _get(f"{base}/auth/token/", auth=("alice", "f" * 40)).status_code == 403
            for base in (one, two):
                r = _get(f"{base}/auth/token/", auth=("alice", api_token))
                assert r.status_code == 429, r.text


@pytest.mark.slow
def test_more_than_one_worker_on_sqlite_is_refused(tmp_path):
    db = tmp_path / "monitor.db"
    r = subprocess.run(
        [sys.executable, "-m", "spackmon_analysis", "serve", "--workers", "2", "--db", str(db)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 1
    assert "--workers 2 needs a PostgreSQL database" in r.stderr
    assert "use --workers 1 with SQLite" in r.stderr
    assert not db.exists()  # refused before anything was created


def test_workers_option_is_checked(capsys):
    from spackmon_analysis.cli import main

    with pytest.raises(SystemExit):
        main(["serve", "--workers", "0"])
    assert "--workers must be an integer between 1 and 256, got 0" in capsys.readouterr().err


def test_a_database_without_the_failures_table_gets_it(tmp_path):
    """An existing database of this schema version made before the table existed."""
    url = f"sqlite:///{tmp_path / 'old.db'}"
    store = Store.open(url)
    with store.write.begin() as conn:
        auth_failures.drop(conn)
    store.dispose()
    reader = Store.open(url, create=False)  # a reader neither needs nor creates it
    with reader.read.connect() as conn:
        assert auth_failures.name not in inspect(conn).get_table_names()
    reader.dispose()
    store = Store.open(url)
    with store.read.connect() as conn:
        assert auth_failures.name in inspect(conn).get_table_names()
    store.dispose()


def _open_secret(url: str, barrier: object) -> str:
    barrier.wait()  # type: ignore[attr-defined]
    store = Store.open(url)
    store.dispose()
    return store.secret


@pytest.mark.slow
@pytest.mark.postgres
def test_servers_starting_together_on_an_empty_database_create_it_once():
    """Workers or servers started at the same moment on an empty PostgreSQL database: one creates
    the schema, the others wait for it and read the same signing secret."""
    with postgres_schema() as url:
        ctx = multiprocessing.get_context("spawn")
        with ctx.Manager() as manager, ctx.Pool(4) as pool:  # neither outlives the test
            barrier = manager.Barrier(4)
            secrets = pool.starmap(_open_secret, [(url, barrier)] * 4, chunksize=1)
        assert len(set(secrets)) == 1 and len(secrets[0]) == 64


@pytest.mark.slow
def test_a_worker_that_cannot_start_stops_the_server(tmp_path):
    """The supervisor does not respawn a worker that fails before serving (its database cannot
    be opened): the server stops with the worker's message and a non-zero status."""
    code = (
        "from spackmon_analysis.server.workers import ServeSettings, run_workers\n"
        "run_workers(ServeSettings(db_url='sqlite:////proc/no-such-dir/x.db'),"
        f" host='127.0.0.1', port={_free_port()}, workers=1)\n"
    )
    r = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=tmp_path
    )
    assert r.returncode != 0
    assert "cannot start" in r.stderr and "no-such-dir" in r.stderr
    assert "a worker could not start" in r.stderr


def _in_thread(fn: Callable[[], None]) -> tuple[threading.Thread, list[BaseException]]:
    errors: list[BaseException] = []

    def run() -> None:
        try:
            fn()
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            errors.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, errors


@pytest.mark.postgres
def test_two_workers_writing_one_build_take_turns():
    """The write connections of two workers (two connections to one PostgreSQL database) writing
    the same build at once: the second waits for the first one's transaction and then works on
    what it wrote. Tags sent by both are all kept; of two analyses of a build, the later one's
    install files replace the earlier one's (no mix of both)."""
    from sqlalchemy import select
    from testlib import BUILD_ENV

    from spackmon_analysis.server.ingest.analyze import analyze_build
    from spackmon_analysis.server.ingest.buildwrites import new_build
    from spackmon_analysis.server.ingest.specdocs import new_spec
    from spackmon_analysis.server.tables import builds, install_files

    with postgres_schema() as url:
        store = Store.open(url)
        try:
            add_user(store, "alice")
            build = {**BUILD_ENV, "spack_version": "0.17.1"}
            with store.write.begin() as conn:
                spec = json.loads(SPEC.read_text())
                _, data = new_spec(conn, {"spec": spec, "spack_version": "0.17.1"})
                build["full_hash"] = data["spec"]["full_hash"]
                _, data = new_build(conn, build, 1)
                build_id = data["build"]["build_id"]

            def both(first: Callable, second: Callable) -> None:
                one = store.write.connect()
                tx = one.begin()
                first(one)  # worker 1's transaction, not yet committed
                other, errors = _in_thread(lambda: _commit(store, second))
                other.join(1.0)
                tx.commit()
                one.close()
                other.join(30)
                assert not other.is_alive() and not errors, errors

            both(
                lambda c: new_build(c, {**build, "tags": "nightly"}, 1),
                lambda c: new_build(c, {**build, "tags": "retry"}, 1),
            )
            with store.read.connect() as conn:
                tags = conn.execute(select(builds.c.tags).where(builds.c.id == build_id)).scalar()
            assert tags == ["nightly", "retry"]

            def files(*paths: str) -> dict:
                meta = {p: {"type": "file", "mode": 33188} for p in paths}
                return {"build_id": build_id, "metadata": {"install_files": meta}}

            prefix = "/opt/spack/linux/tinyapp-1.0-abc/"
            both(
                lambda c: analyze_build(c, files(prefix + "bin/old", prefix + ".spack/a"), 1),
                lambda c: analyze_build(c, files(prefix + "bin/new", prefix + ".spack/a"), 1),
            )
            with store.read.connect() as conn:
                paths = sorted(
                    conn.execute(
                        select(install_files.c.path).where(install_files.c.build_id == build_id)
                    ).scalars()
                )
            assert paths == [".spack/a", "bin/new"]
        finally:
            store.dispose()


def _commit(store: Store, write: Callable) -> None:
    with store.write.begin() as conn:
        write(conn)
