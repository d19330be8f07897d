"""Benchmark: save-local replay through SpackMonitorClient vs. a connection-per-request baseline.

A generated save-local run (``synth.generate_save_local``: by default 1,000 builds with
5 phases each) is replayed to the embedded monitor (``spackmon serve``: uvicorn on a
loopback port, a fresh SQLite database) running in its own process, as a monitor would
in real use. Each variant gets its own fresh server, so every variant does the same work
(everything is created):

- ``baseline``: the same client code, but every request on a brand-new connection (a new
  ``requests.Session`` per request with ``Connection: close``, as the reference
  ``spackmoncli`` / urllib clients do), one request at a time;
- ``pooled, 1 worker``: one pooled keep-alive session, one request at a time;
- ``pooled, 4 workers``: the default client (pooled session; phases and statuses are sent
  on 4 connections at once).

Prints total time, requests and requests/s per variant and the speed-up over the
baseline. Run: ``python benchmarks/bench_client.py [--builds 1000] [--phases 5]``.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

from spackmon_analysis import synth
from spackmon_analysis.client import SpackMonitorClient
from spackmon_analysis.errors import TransportError


class ConnectionPerRequestSession(requests.Session):
    """A session that opens a new connection for every request (the baseline)."""

    def request(self, method, url, **kwargs):  # type: ignore[override]
        with requests.Session() as fresh:
            fresh.headers.update(self.headers)
            fresh.headers["Connection"] = "close"
            return fresh.request(method, url, **kwargs)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ServerProcess:
    """``spackmon serve`` on a fresh SQLite database in a child process."""

    def __init__(self, workdir: Path):
        self.db = f"sqlite:///{workdir / 'bench.db'}"
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> ServerProcess:
        cli = [sys.executable, "-m", "spackmon_analysis"]
        self.token = subprocess.run(
            [*cli, "users", "add", "bench", "--db", self.db],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
        self.proc = subprocess.Popen(
            [*cli, "serve", "--db", self.db, "--port", str(self.port), "--log-level", "warning"],
            env=dict(os.environ),
        )
        probe = SpackMonitorClient(host=self.url, retries=0, progress=False)
        deadline = time.monotonic() + 60
        while True:
            try:
                probe.service_info()
                break
            except TransportError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise
                time.sleep(0.1)
        probe.close()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=30)


def replay(directory: Path, *, baseline: bool, workers: int) -> dict:
    with (
        tempfile.TemporaryDirectory(prefix="bench-client-db-") as tmp,
        ServerProcess(Path(tmp)) as server,
    ):
        session = ConnectionPerRequestSession() if baseline else None
        client = SpackMonitorClient(
            host=server.url, username="bench", token=server.token, session=session, progress=False
        )
        start = time.perf_counter()
        summary = client.upload_local_save(directory, progress=False, workers=workers)
        elapsed = time.perf_counter() - start
        assert not summary.problems, summary.problems[:3]
        client.close()
        return {
            "seconds": elapsed,
            "requests": client.request_count,
            "rps": client.request_count / elapsed,
            "created": summary.total_created,
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--builds", type=int, default=1000)
    parser.add_argument("--phases", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-client-") as tmp:
        directory = Path(tmp) / "monitor"
        synth.generate_save_local(
            directory, args.builds, phases_per_build=args.phases, seed=args.seed
        )
        variants = [
            ("baseline: new connection per request", True, 1),
            ("pooled session, 1 worker", False, 1),
            ("pooled session, 4 workers (default)", False, 4),
        ]
        results = []
        for label, baseline, workers in variants:
            result = replay(directory, baseline=baseline, workers=workers)
            results.append((label, result))
            print(
                f"{label:40s} {result['seconds']:8.2f} s  {result['requests']:6d} requests  "
                f"{result['rps']:8.1f} req/s  ({result['created']} created)",
                flush=True,
            )
        base = results[0][1]["seconds"]
        print(f"\n{args.builds} builds x {args.phases} phases")
        for label, result in results[1:]:
            print(f"speed-up of {label}: {base / result['seconds']:.2f}x over the baseline")


if __name__ == "__main__":
    main()
