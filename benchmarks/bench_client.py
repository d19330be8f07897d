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
- ``pooled, 4 workers``: the default client (pooled session; each build's requests are a
  chain, and 4 chains run at once on 4 connections, overlapping the spec uploads).

Prints total time, requests and requests/s per variant and the speed-up over the
baseline. Run: ``python benchmarks/bench_client.py [--builds 1000] [--phases 5] [--repeat 3]
[--workers 4 8]``; with ``--repeat`` the variants run interleaved, round after round, and the
ranges are printed (the machine's load changes between rounds).
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
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
        server_cpu = _process_cpu(server.proc.pid)
        cpu = time.process_time()
        start = time.perf_counter()
        summary = client.upload_local_save(directory, progress=False, workers=workers)
        elapsed = time.perf_counter() - start
        cpu = time.process_time() - cpu
        server_after = _process_cpu(server.proc.pid)
        assert not summary.problems, summary.problems[:3]
        client.close()
        return {
            "seconds": elapsed,
            "requests": client.request_count,
            "rps": client.request_count / elapsed,
            "created": summary.total_created,
            # CPU per request in ms: this process (the client, including reading the files)
            # and the server process (None where /proc is not available)
            "client_ms": 1000 * cpu / client.request_count,
            "server_ms": (
                1000 * (server_after - server_cpu) / client.request_count
                if server_cpu is not None and server_after is not None
                else None
            ),
        }


def _process_cpu(pid: int) -> float | None:
    """User + system CPU seconds of a process, from /proc (Linux); None elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--builds", type=int, default=1000)
    parser.add_argument("--phases", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--repeat", type=int, default=1, help="rounds of all variants (report the range)"
    )
    parser.add_argument(
        "--workers",
        type=int,
        nargs="+",
        default=[4],
        help="worker counts of the parallel pooled variants (default: 4)",
    )
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-client-") as tmp:
        directory = Path(tmp) / "monitor"
        synth.generate_save_local(
            directory, args.builds, phases_per_build=args.phases, seed=args.seed
        )
        variants = [
            ("baseline: new connection per request", True, 1),
            ("pooled session, 1 worker", False, 1),
        ] + [
            (f"pooled session, {n} workers{' (default)' if n == 4 else ''}", False, n)
            for n in args.workers
            if n > 1
        ]
        speedups: dict[str, list[float]] = {label: [] for label, _b, _w in variants[1:]}
        times: dict[str, list[float]] = {label: [] for label, _b, _w in variants}
        for round_no in range(1, args.repeat + 1):
            if args.repeat > 1:
                print(f"round {round_no} of {args.repeat}", flush=True)
            results = []
            for label, baseline, workers in variants:  # interleaved: same load for each
                result = replay(directory, baseline=baseline, workers=workers)
                results.append((label, result))
                times[label].append(result["seconds"])
                server_ms = result["server_ms"]
                print(
                    f"{label:40s} {result['seconds']:8.2f} s  {result['requests']:6d} requests  "
                    f"{result['rps']:8.1f} req/s  ({result['created']} created)  CPU/request: "
                    f"client {result['client_ms']:.3f} ms, server "
                    + (f"{server_ms:.3f} ms" if server_ms is not None else "n/a"),
                    flush=True,
                )
            base = results[0][1]["seconds"]
            for label, result in results[1:]:
                speedups[label].append(base / result["seconds"])
        print(f"\n{args.builds} builds x {args.phases} phases, {args.repeat} round(s)")
        for label, values in times.items():
            print(f"time of {label}: {min(values):.2f}-{max(values):.2f} s")
        for label, values in speedups.items():
            print(
                f"speed-up of {label}: {min(values):.2f}x-{max(values):.2f}x over the baseline "
                f"(median {statistics.median(values):.2f}x)"
            )


if __name__ == "__main__":
    main()
