"""Crash safety: ``spackmon serve`` killed with SIGKILL in the middle of a replay.

The server runs as a real subprocess (``python -m spackmon_analysis serve --db URL``). A client
replays the save-local runs; once the server holds some phases it gets SIGKILL (no shutdown, no
flush). The replay fails with a TransportError; the server restarts on the same database, the
replay runs again and completes, and the database equals that of a clean sequential replay.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import pytest
import relhelp
import requests
from sqlalchemy import create_engine, text

from spackmon_analysis.client import SpackMonitorClient
from spackmon_analysis.errors import TransportError

KILL_AFTER_PHASES = 20


def _cli(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "spackmon_analysis", *args],
        capture_output=True,
        text=True,
        check=True,
        **kwargs,
    )


class Server(relhelp.ServeProcess):
    """``spackmon serve`` as a subprocess on a free port, which the test may kill."""

    def phases(self) -> int:
        r = requests.get(f"{self.url}/api/buildphases/", params={"limit": 1, "output": 0})
        return r.json()["count"]

    def kill(self) -> None:
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)


@pytest.mark.slow
@pytest.mark.parametrize("backend", relhelp.BACKENDS)
def test_sigkill_mid_replay_then_replay_again(backend, tmp_path):
    reference = relhelp.reference_dump(tmp_path)
    with relhelp.database(backend, tmp_path) as url:
        token = _cli("users", "add", "u", "--db", url).stdout.strip()
        server = Server(url, tmp_path / "serve.log")
        outcome: dict = {}

        def run() -> None:
            client = SpackMonitorClient(
                server.url, username="u", token=token, progress=False, retries=0, timeout=10
            )
            try:
                outcome["summary"] = relhelp.replay(client)
            except Exception as exc:  # noqa: BLE001 - checked below
                outcome["error"] = exc
            finally:
                client.close()

        try:
            thread = threading.Thread(target=run)
            thread.start()
            deadline = time.monotonic() + 60
            while server.phases() < KILL_AFTER_PHASES:
                assert thread.is_alive(), f"replay ended before the kill: {outcome}"
                assert time.monotonic() < deadline, "no phases arrived"
                time.sleep(0.005)
            server.kill()
            thread.join(timeout=60)
        finally:
            server.stop()
        # the kill interrupted the replay: a transport error, not a finished replay
        assert isinstance(outcome.get("error"), TransportError), outcome
        at_kill = relhelp.canonical(url)
        relhelp.record(
            f"crash [{backend}] rows in the database at SIGKILL", relhelp.n_rows(at_kill)
        )

        server = Server(url, tmp_path / "serve.log")  # restart on the same database
        try:
            client = SpackMonitorClient(server.url, username="u", token=token, progress=False)
            summary = relhelp.replay(client)
            client.close()
        finally:
            server.stop()
        assert not summary.problems, summary.problems[:3]
        if backend == "sqlite":
            engine = create_engine(url)
            with engine.connect() as conn:
                assert conn.execute(text("PRAGMA integrity_check")).scalar() == "ok"
            engine.dispose()
        got = relhelp.canonical(url)
    relhelp.assert_no_duplicates(got)
    rows = relhelp.assert_same(got, reference, f"replay after SIGKILL ({backend})")
    assert relhelp.n_rows(at_kill) < rows
    relhelp.record(f"crash [{backend}] rows compared with a clean run", rows)
