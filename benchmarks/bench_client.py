"""Benchmark: save-local replay through SpackMonitorClient vs. Spack's own uploader.

A generated save-local run (``synth.generate_save_local``: by default 1,000 builds with
5 phases each) is replayed to the embedded monitor (``spackmon serve``: uvicorn on a
loopback port, a fresh SQLite database) running in its own process, as a monitor would
in real use. Each variant gets its own fresh server, so every variant does the same work
(everything is created):

- ``baseline``: a faithful model of Spack 0.17/0.18's ``spack monitor upload``
  (``spack_uploader.SpackUploader``: stdlib ``urllib``, a new connection per request, one
  request at a time, the files in Spack's order);
- ``plain ms1``: our client with the batch extension off (``batch=False``): one pooled
  keep-alive session, each build's requests a chain, 4 chains at once;
- ``batch``: our client as it runs by default against our server, which advertises the batch
  extension (``POST /ms1/batch/``: many writes per request, one transaction each).

Prints total time, requests and requests/s per variant and the speed-up over the
baseline. Run: ``python benchmarks/bench_client.py [--builds 1000] [--phases 5] [--repeat 3]
[--workers 4]``; with ``--repeat`` the variants run interleaved, round after round, and the
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

from spack_uploader import SpackUploader

from spackmon_analysis import synth
from spackmon_analysis.client import SpackMonitorClient
from spackmon_analysis.errors import TransportError


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


def replay(directory: Path, *, variant: str, workers: int) -> dict:
    with (
        tempfile.TemporaryDirectory(prefix="bench-client-db-") as tmp,
        ServerProcess(Path(tmp)) as server,
    ):
        assert server.proc is not None
        server_cpu = _process_cpu(server.proc.pid)
        cpu = time.process_time()
        start = time.perf_counter()
        if variant == "spack":
            uploader = SpackUploader(server.url, "bench", server.token)
            uploader.upload_local_save(directory)
            elapsed = time.perf_counter() - start
            requests_sent = uploader.requests
            created = None
        else:
            client = SpackMonitorClient(
                host=server.url, username="bench", token=server.token, progress=False
            )
            summary = client.upload_local_save(
                directory, progress=False, workers=workers, batch=variant == "batch"
            )
            elapsed = time.perf_counter() - start
            assert not summary.problems, summary.problems[:3]
            requests_sent = client.request_count
            created = summary.total_created
            client.close()
        cpu = time.process_time() - cpu
        server_after = _process_cpu(server.proc.pid)
        rows = _row_counts(server.db)
        return {
            "seconds": elapsed,
            "requests": requests_sent,
            "rps": requests_sent / elapsed,
            "created": created,
            "rows": rows,
            # CPU per replayed file in ms: this process (the client, including reading the
            # files) and the server process (None where /proc is not available)
            "client_ms": 1000 * cpu / rows["files"],
            "server_ms": (
                1000 * (server_after - server_cpu) / rows["files"]
                if server_cpu is not None and server_after is not None
                else None
            ),
        }


def _row_counts(db_url: str) -> dict[str, int]:
    """Rows of the tables a replay fills (each variant must leave the same), and the number
    of files they stand for."""
    import sqlite3

    path = db_url.removeprefix("sqlite:///")
    with sqlite3.connect(path) as conn:
        counts = {
            table: conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]  # noqa: S608
            for table in ("specs", "builds", "build_phases", "build_events")
        }
        counts["statuses"] = conn.execute(
            "SELECT count(*) FROM builds WHERE status != 'NOTRUN'"
        ).fetchone()[0]
    counts["files"] = counts["builds"] + counts["build_phases"] + counts["statuses"]
    return counts


def _process_cpu(pid: int) -> float | None:
    """User + system CPU seconds of a process, from /proc (Linux); None elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _load() -> float:
    """The one-minute load average (NaN where the system has none)."""
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")


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
        default=4,
        help="chains (plain ms1) or groups (batch) in flight in our client (default: 4)",
    )
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-client-") as tmp:
        directory = Path(tmp) / "monitor"
        synth.generate_save_local(
            directory, args.builds, phases_per_build=args.phases, seed=args.seed
        )
        variants = [
            ("baseline: Spack's uploader (model)", "spack"),
            (f"our client, plain ms1, {args.workers} workers", "plain"),
            (f"our client, batch extension, {args.workers} workers", "batch"),
        ]
        speedups: dict[str, list[float]] = {label: [] for label, _v in variants[1:]}
        times: dict[str, list[float]] = {label: [] for label, _v in variants}
        # client + server CPU per file (ms), and its ratio to the baseline's in the same round
        cpu: dict[str, list[float]] = {label: [] for label, _v in variants}
        cpu_ratios: dict[str, list[float]] = {label: [] for label, _v in variants[1:]}
        for round_no in range(1, args.repeat + 1):
            if args.repeat > 1:
                print(f"round {round_no} of {args.repeat} (load average {_load():.1f})", flush=True)
            results = []
            for label, variant in variants:  # interleaved: same load for each
                result = replay(directory, variant=variant, workers=args.workers)
                results.append((label, result))
                times[label].append(result["seconds"])
                server_ms = result["server_ms"]
                print(
                    f"{label:44s} {result['seconds']:7.2f} s  {result['requests']:6d} requests  "
                    f"{result['rps']:8.1f} req/s  CPU per file: client "
                    f"{result['client_ms']:.3f} ms, server "
                    + (f"{server_ms:.3f} ms" if server_ms is not None else "n/a"),
                    flush=True,
                )
            rows = {label: r["rows"] for label, r in results}
            if len({tuple(sorted(r.items())) for r in rows.values()}) != 1:
                raise SystemExit(f"the variants left different rows: {rows}")
            base = results[0][1]["seconds"]
            for label, result in results[1:]:
                speedups[label].append(base / result["seconds"])
            if all(r["server_ms"] is not None for _label, r in results):
                for label, result in results:
                    cpu[label].append(result["client_ms"] + result["server_ms"])
                for label, _result in results[1:]:
                    cpu_ratios[label].append(cpu[results[0][0]][-1] / cpu[label][-1])
        load = _load()
        print(
            f"\n{args.builds} builds x {args.phases} phases, {args.repeat} round(s), "
            f"{results[0][1]['rows']['files']} files; load average now {load:.1f}"
        )
        for label, values in times.items():
            print(f"time of {label}: {min(values):.2f}-{max(values):.2f} s")
        for label, values in speedups.items():
            print(
                f"speed-up of {label}: {min(values):.2f}x-{max(values):.2f}x over the baseline "
                f"(median {statistics.median(values):.2f}x)"
            )
        for label, values in cpu.items():
            if values:
                print(
                    f"client + server CPU per file, {label}: {min(values):.3f}-{max(values):.3f} ms"
                )
        for label, values in cpu_ratios.items():
            if values:
                print(
                    f"CPU per file, baseline over {label}: {min(values):.2f}x-{max(values):.2f}x "
                    f"(median {statistics.median(values):.2f}x)"
                )


if __name__ == "__main__":
    main()
