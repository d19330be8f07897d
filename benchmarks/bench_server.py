"""Requests per second of the embedded monitor for the request sequence of `spack install --monitor`.

For every package Spack sends one ``builds/new``, five ``builds/phases/update`` (with the real
phase logs of the save-local fixtures, so the build-log parser runs) and one ``builds/update``.
One client, one ``requests.Session`` (keep-alive), against ``spackmon serve`` started as a separate
process (as in production; client and server each get a core of this 2-core machine).

Baseline, measured in the same run over the same session: the same number of ``GET /ms1/``
(service info: HTTP + framework, no database). The ratio sequence/baseline is the figure to watch.

Usage::

    python benchmarks/bench_server.py [--runs 2] [--packages 300] [--pg postgresql+psycopg://...]

Setup (not measured): one user and ``--packages`` spec rows inserted straight into the database
(the uploads `spack install --monitor` makes before building are not part of the sequence).

PostgreSQL is measured when ``--pg`` or ``SPACKMON_TEST_POSTGRES_URL`` is given (a fresh schema
is created and dropped).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from urllib.parse import quote

import requests

ROOT = Path(__file__).resolve().parent.parent
SAVE_LOCAL = ROOT / "tests" / "data" / "save-local"
PHASES = ("autoreconf", "configure", "build", "install", "post-install")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _phase_outputs() -> list[str]:
    outs = []
    for path in sorted(SAVE_LOCAL.glob("*/build-*-phase-*.json")):
        out = json.loads(path.read_text()).get("output")
        if out:
            outs.append(out)
    return outs or ["==> phase\n"]


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` so far (Linux /proc; 0.0 elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _serve(db: str, profile: str | None = None) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    if profile:  # the same server under cProfile, stopped by SIGUSR1 (see _profiled_serve)
        cmd = [sys.executable, __file__, "--_profiled-serve", profile, str(port), db]
    else:
        cmd = [sys.executable, "-m", "spackmon_analysis", "serve", "--port", str(port), "--db", db]
    proc = subprocess.Popen(
        cmd,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}/ms1"
    for _ in range(200):
        try:
            requests.get(base + "/", timeout=1)
            return proc, base
        except requests.ConnectionError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError("server did not start")


def bench(
    db: str, runs: int, n_packages: int, with_output: bool = True, profile: str | None = None
) -> dict:
    """Run the sequence against a fresh database ``db``; returns the figures."""
    from spackmon_analysis.server.auth import add_user
    from spackmon_analysis.server.tables import Store, specs, utcnow

    store = Store.open(db)
    token = add_user(store, "bench")
    # setup, not measured: the package specs a `spack install` would have uploaded first
    now = utcnow()
    with store.write.begin() as conn:
        conn.execute(
            specs.insert(),
            [
                {
                    "name": f"pkg{i}",
                    "version": "1.0",
                    "full_hash": f"{i:032x}",
                    "spack_version": "0.17.1",
                    "parameters": {},
                    "external": False,
                    "is_root": i == 0,
                    "created_at": now,
                }
                for i in range(n_packages)
            ],
        )
    store.dispose()
    proc, base = _serve(db, profile)
    try:
        s = requests.Session()
        s.headers["Authorization"] = (
            "Bearer " + s.get(f"{base}/auth/token/", auth=("bench", token)).json()["token"]
        )
        packages = [(f"{i:032x}", "0.17.1") for i in range(n_packages)]
        outputs = _phase_outputs()
        seq_requests = 0
        server_cpu0, client_cpu0 = _cpu_seconds(proc.pid), time.process_time()
        t0 = time.perf_counter()
        for run in range(runs):
            env = {
                "host_os": "debian12",
                "platform": "linux",
                "host_target": "icelake",
                "hostname": f"node{run}",
                "kernel_version": "6.1",
            }
            for i, (full_hash, sv) in enumerate(packages):
                r = s.post(
                    f"{base}/builds/new/",
                    data=json.dumps({**env, "spack_version": sv, "full_hash": full_hash}).encode(),
                )
                build_id = r.json()["data"]["build"]["build_id"]
                for j, phase in enumerate(PHASES):
                    body = {
                        "build_id": build_id,
                        "phase_name": phase,
                        "status": "SUCCESS",
                        "output": outputs[(i + j) % len(outputs)] if with_output else None,
                    }
                    assert (
                        s.post(
                            f"{base}/builds/phases/update/", data=json.dumps(body).encode()
                        ).status_code
                        == 200
                    )
                assert (
                    s.post(
                        f"{base}/builds/update/",
                        data=json.dumps({"build_id": build_id, "status": "SUCCESS"}).encode(),
                    ).status_code
                    == 200
                )
                seq_requests += 7
        seq = time.perf_counter() - t0
        server_cpu = _cpu_seconds(proc.pid) - server_cpu0
        client_cpu = time.process_time() - client_cpu0
        t0 = time.perf_counter()
        for _ in range(seq_requests):
            s.get(f"{base}/")
        base_t = time.perf_counter() - t0
    finally:
        proc.send_signal(signal.SIGUSR1 if profile else signal.SIGTERM)
        proc.wait(timeout=30)
    return {
        "requests": seq_requests,
        "packages": len(packages) * runs,
        "sequence_rps": seq_requests / seq,
        "baseline_rps": seq_requests / base_t,
        "ratio": (seq_requests / seq) / (seq_requests / base_t),
        "server_us": server_cpu / seq_requests * 1e6,
        "client_us": client_cpu / seq_requests * 1e6,
    }


def _pg_schema(url: str) -> tuple[str, object]:
    from sqlalchemy import create_engine, text

    schema = "bench_" + uuid.uuid4().hex[:8]
    admin = create_engine(url)
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    sep = "&" if "?" in url else "?"

    def drop() -> None:
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()

    return f"{url}{sep}options={quote(f'-csearch_path={schema}')}", drop


def _profiled_serve(out: str, port: int, db: str) -> int:
    """``spackmon serve`` (same app, same uvicorn settings) under cProfile; SIGUSR1 stops it."""
    import cProfile

    import uvicorn

    from spackmon_analysis.server.app import create_app
    from spackmon_analysis.server.local import _loop_impl, uvicorn_options

    config = uvicorn.Config(
        create_app(db),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        access_log=False,
        loop=_loop_impl(),
        lifespan="off",
        **uvicorn_options(),
    )
    server = uvicorn.Server(config)
    signal.signal(signal.SIGUSR1, lambda *_: setattr(server, "should_exit", True))
    profiler = cProfile.Profile()
    profiler.runcall(server.run)
    profiler.dump_stats(out)
    return 0


def main() -> int:
    if len(sys.argv) == 5 and sys.argv[1] == "--_profiled-serve":
        return _profiled_serve(sys.argv[2], int(sys.argv[3]), sys.argv[4])
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=2, help="install runs (one host each)")
    parser.add_argument("--packages", type=int, default=300, help="packages per run")
    parser.add_argument("--no-output", action="store_true", help="send phases without log text")
    parser.add_argument(
        "--profile-server",
        metavar="FILE",
        help="run the SQLite server under cProfile and write its stats to FILE (slower)",
    )
    parser.add_argument(
        "--pg", default=os.environ.get("SPACKMON_TEST_POSTGRES_URL"), help="PostgreSQL URL"
    )
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        rows.append(
            (
                "sqlite",
                bench(
                    f"sqlite:///{tmp}/bench.db",
                    args.runs,
                    args.packages,
                    not args.no_output,
                    args.profile_server,
                ),
            )
        )
    if args.pg:
        url, drop = _pg_schema(args.pg)
        try:
            rows.append(("postgresql", bench(url, args.runs, args.packages, not args.no_output)))
        finally:
            drop()
    print(
        f"{'db':<11} {'requests':>8} {'sequence req/s':>15} {'baseline req/s':>15} {'ratio':>6}"
        f" {'server CPU us/req':>18} {'client CPU us/req':>18}"
    )
    for name, r in rows:
        print(
            f"{name:<11} {r['requests']:>8} {r['sequence_rps']:>15.0f} {r['baseline_rps']:>15.0f}"
            f" {r['ratio']:>6.2f} {r['server_us']:>18.0f} {r['client_us']:>18.0f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
