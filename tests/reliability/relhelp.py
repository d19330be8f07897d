"""Helpers of the reliability tests: databases, table dumps, replays and the figures they report.

Imported by the test modules as ``relhelp`` (conftest.py puts this directory on ``sys.path``).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import testlib
from sqlalchemy import Engine, create_engine, select
from testlib import postgres_schema

from spackmon_analysis.demo import example_data_dir
from spackmon_analysis.server.tables import metadata

HERE = Path(__file__).resolve().parent
TESTS = HERE.parent

#: The save-local runs replayed by the concurrency, crash and client-fault tests: the bundled
#: example runs and the real Spack 0.17.1 runs of tests/data (8 runs, 266 files).
REPLAY_SOURCES = [example_data_dir() / "save-local", TESTS / "data" / "save-local"]

#: Figures measured by the tests (printed in the terminal summary by tests/conftest.py, from
#: every xdist worker): ``record`` sets one, ``add`` counts.
FIGURES = testlib.FIGURES
record = testlib.record_figure
add = testlib.add_figure


# ---------------------------------------------------------------------------------------------
# databases


@contextmanager
def database(backend: str, tmp_path: Path, name: str = "db") -> Iterator[str]:
    """A database URL of ``backend`` ("sqlite": a file under tmp_path, or "postgresql")."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / (name + '.sqlite')}"
    else:
        with postgres_schema(prepared=True) as url:
            yield url


BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


# ---------------------------------------------------------------------------------------------
# table dumps

#: Columns that differ between two equivalent databases: row ids, clocks, secrets.
VOLATILE = {"id", "created_at", "updated_at", "token_updated_at", "token_hash"}


def _norm(value: Any) -> Any:
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True, default=str)
    if isinstance(value, bytes | memoryview):
        return bytes(value).hex()
    return value


def _engine(db: str | Engine) -> tuple[Engine, bool]:
    if isinstance(db, str):
        return create_engine(db), True
    return db, False


def raw_dump(db: str | Engine) -> dict[str, list[tuple]]:
    """Every row of every table, every column (ids and timestamps included), in key order."""
    engine, own = _engine(db)
    try:
        with engine.connect() as conn:
            return {
                t.name: [
                    tuple(_norm(v) for v in row)
                    for row in conn.execute(select(t).order_by(*t.primary_key.columns))
                ]
                for t in metadata.sorted_tables
            }
    finally:
        if own:
            engine.dispose()


def canonical(db: str | Engine) -> dict[str, list[str]]:
    """Every table's content without ids, timestamps and secrets, as a sorted list of rows.

    A foreign key is replaced by the canonical content of the row it points to (tables come in
    dependency order), so two databases holding the same data under different ids compare equal,
    and a duplicated row shows up as a repeated entry.
    """
    engine, own = _engine(db)
    keys: dict[str, dict[Any, tuple]] = {}
    out: dict[str, list[str]] = {}
    try:
        with engine.connect() as conn:
            for table in metadata.sorted_tables:
                if table.name == "spackmon_meta":
                    continue
                fks = {fk.parent.name: fk.column.table.name for fk in table.foreign_keys}
                cols = [c.name for c in table.columns if c.name not in VOLATILE]
                rows: dict[Any, tuple] = {}
                for i, row in enumerate(conn.execute(select(table)).mappings()):
                    canon = tuple(
                        (
                            name,
                            keys[fks[name]][row[name]]
                            if name in fks and row[name] is not None
                            else _norm(row[name]),
                        )
                        for name in cols
                    )
                    rows[row["id"] if "id" in row else i] = canon
                keys[table.name] = rows
                out[table.name] = sorted(repr(r) for r in rows.values())
    finally:
        if own:
            engine.dispose()
    return out


def n_rows(dump: dict[str, list]) -> int:
    return sum(len(rows) for rows in dump.values())


def assert_same(got: dict[str, list], want: dict[str, list], what: str) -> int:
    """Assert two canonical dumps are equal table by table; returns the rows compared."""
    assert set(got) == set(want)
    for name in want:
        if got[name] != want[name]:
            extra = sorted(set(got[name]) - set(want[name]))[:3]
            missing = sorted(set(want[name]) - set(got[name]))[:3]
            raise AssertionError(
                f"{what}: table {name} differs ({len(got[name])} rows vs {len(want[name])}); "
                f"unexpected {extra}; missing {missing}"
            )
    return n_rows(want)


def assert_no_duplicates(dump: dict[str, list[str]]) -> None:
    """No two identical rows in the tables whose rows are unique by content."""
    for name in ("specs", "builds", "build_phases", "build_environments", "dependencies"):
        rows = dump[name]
        assert len(rows) == len(set(rows)), f"duplicate rows in {name}"


# ---------------------------------------------------------------------------------------------
# replays


def replay(client: Any, sources: list[Path] | None = None, *, batch: bool = True) -> Any:
    """Replay the save-local runs with ``client`` (no progress bar); returns the summary."""
    return client.upload_local_save(
        [str(p) for p in (sources or REPLAY_SOURCES)], progress=False, workers=4, batch=batch
    )


def reference_dump(tmp_path: Path, user: str = "u") -> dict[str, list[str]]:
    """Canonical content after one clean sequential replay of REPLAY_SOURCES (cached)."""
    cached = FIGURES.get("_reference")
    if cached is not None:
        return cached
    from spackmon_analysis import LocalMonitor

    url = f"sqlite:///{tmp_path / 'reference.sqlite'}"
    with LocalMonitor(url) as mon:
        mon.add_user(user)
        with mon.client(user, progress=False) as client:
            replay(client)
        dump = canonical(mon.store.read)
    FIGURES["_reference"] = dump
    return dump


# ---------------------------------------------------------------------------------------------
# a real `spackmon serve` process (the attack tests of issue 14)


class ServeProcess:
    """``spackmon serve`` as a subprocess on a free loopback port.

    ``args`` are extra command-line options; ``nofile`` sets the process's descriptor limit.
    ``rss()``/``peak_rss()`` read its resident and peak memory (bytes) from ``/proc``.
    """

    def __init__(self, db_url: str, log_path: Path, *args: str, nofile: int | None = None):
        import socket
        import subprocess
        import sys
        import time

        import requests

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.base = f"{self.url}/ms1"
        self.log = open(log_path, "ab")  # noqa: SIM115 - closed in stop()

        def limit() -> None:
            if nofile is not None:
                import resource

                resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))

        self.proc = subprocess.Popen(
            [sys.executable, "-m", "spackmon_analysis", "serve", "--db", db_url]
            + ["--port", str(self.port), *args],
            stdout=self.log,
            stderr=self.log,
            preexec_fn=limit,
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                if requests.get(f"{self.base}/", timeout=1).status_code == 200:
                    return
            except requests.RequestException:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"spackmon serve did not start (see {log_path})")
            time.sleep(0.05)

    def _status(self, key: str) -> int:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
        raise KeyError(key)

    def rss(self) -> int:
        return self._status("VmRSS")

    def peak_rss(self) -> int:
        return self._status("VmHWM")

    def stop(self) -> None:
        import os
        import signal
        import subprocess

        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        self.log.close()

    def __enter__(self) -> ServeProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def cli(*args: str) -> str:
    """``spackmon ARGS`` (this checkout's ``cli.main``, in this process) -> its standard output.

    Used to set a test up (``users add``); in-process, it costs no interpreter start and import
    (tests/server/test_server_cli.py checks the commands themselves). Raises ``RuntimeError``
    with the command's standard error when it does not exit 0.
    """
    import contextlib
    import io

    from spackmon_analysis import cli as spackmon

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = spackmon.main(list(args))
    if code != 0:
        raise RuntimeError(f"spackmon {' '.join(args)} exited {code}: {err.getvalue()}")
    return out.getvalue()


class Prober:
    """Another client: ``GET`` each of ``urls`` in turn every ``every`` seconds in a thread;
    ``worst`` is the longest answer time seen, ``failures`` the answers other than 200."""

    def __init__(self, urls: list[str], every: float = 0.05, timeout: float = 30.0):
        import requests

        self.urls = urls
        self.every = every
        self.timeout = timeout
        self.session = requests.Session()
        self.worst = 0.0
        self.sent = 0
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        import time

        i = 0
        while not self._stop.is_set():
            url = self.urls[i % len(self.urls)]
            i += 1
            start = time.monotonic()
            try:
                r = self.session.get(url, timeout=self.timeout)
                if r.status_code != 200:
                    self.failures.append(f"{url}: {r.status_code}")
            except Exception as exc:  # noqa: BLE001 - reported by the test
                self.failures.append(f"{url}: {type(exc).__name__}: {exc}")
            self.worst = max(self.worst, time.monotonic() - start)
            self.sent += 1
            self._stop.wait(self.every)

    def __enter__(self) -> Prober:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=self.timeout + 5)
        self.session.close()
