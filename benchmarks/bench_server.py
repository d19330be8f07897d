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

``--workers 1 2 4`` measures ``spackmon serve --workers N`` on PostgreSQL instead, driven by
``wrk`` (Debian package ``wrk``: a compiled load generator, since a Python client costs more CPU
per request than the server) with ``benchmarks/wrk_ms1.lua``: each wrk thread posts the
``spack install --monitor`` sequence (``builds/new`` creating a build, five
``builds/phases/update`` with real phase logs, ``builds/update``) over keep-alive connections
with one bearer token. Reported per worker count: requests/s, the server's CPU per request
(every worker process and the supervisor, from ``/proc``) and the PostgreSQL backends' CPU per
request (the backends of this server, found by ``application_name``), wrk's own CPU per request
(``RUSAGE_CHILDREN``). The baseline is one worker,
measured in the same run; rounds alternate the order (1 2 4, then 4 2 1, ...). See
``--duration``, ``--connections``, ``--threads``, ``--rounds``.
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


# ---------------------------------------------------------------------------------------------
# --workers: spackmon serve --workers N on PostgreSQL, driven by wrk

LUA = Path(__file__).resolve().parent / "wrk_ms1.lua"


def _children(pid: int) -> list[int]:
    """The child processes of ``pid`` (Linux /proc)."""
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(c) for c in text.split()]


def _tree_cpu(pid: int) -> float:
    """CPU seconds of ``pid`` and its children (the supervisor and its workers)."""
    return _cpu_seconds(pid) + sum(_cpu_seconds(c) for c in _children(pid))


def _backend_pids(admin_url: str, app_name: str) -> list[int]:
    """The PostgreSQL backends whose ``application_name`` is ``app_name``."""
    from sqlalchemy import create_engine, text

    engine = create_engine(admin_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                text("SELECT pid FROM pg_stat_activity WHERE application_name = :n"),
                {"n": app_name},
            ).all()
    finally:
        engine.dispose()
    return [r[0] for r in rows]


def _write_requests(
    folder: Path, threads: int, per_thread: int, build_ids: list[list[int]]
) -> None:
    """One file of requests per wrk thread: ``path<TAB>JSON body`` lines, seven per package."""
    outputs = _phase_outputs()
    for t in range(threads):
        lines = []
        env = {
            "host_os": "debian12",
            "platform": "linux",
            "host_target": "icelake",
            "hostname": f"bench-t{t}",
            "kernel_version": "6.1",
        }
        for p in range(per_thread):
            k = t * per_thread + p
            build_id = build_ids[t][p]
            new = {**env, "spack_version": "0.17.1", "full_hash": f"{k:032x}"}
            lines.append(f"/ms1/builds/new/\t{json.dumps(new)}")
            for j, phase in enumerate(PHASES):
                body = {
                    "build_id": build_id,
                    "phase_name": phase,
                    "status": "SUCCESS",
                    "output": outputs[(k + j) % len(outputs)],
                }
                lines.append(f"/ms1/builds/phases/update/\t{json.dumps(body)}")
            lines.append(
                f"/ms1/builds/update/\t{json.dumps({'build_id': build_id, 'status': 'SUCCESS'})}"
            )
        (folder / f"requests-{t}.txt").write_text("\n".join(lines) + "\n")


def _setup_builds(url: str, threads: int, per_thread: int) -> tuple[str, list[list[int]]]:
    """A user, ``threads * per_thread`` specs and a build of each (not measured) -> (API token,
    build ids per thread)."""
    from sqlalchemy import select

    from spackmon_analysis.server.auth import add_user
    from spackmon_analysis.server.tables import Store, build_environments, builds, specs, utcnow

    store = Store.open(url)
    token = add_user(store, "bench")
    now = utcnow()
    n = threads * per_thread
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
                    "is_root": True,
                    "created_at": now,
                }
                for i in range(n)
            ],
        )
        env_id = conn.execute(
            build_environments.insert().values(
                hostname="setup",
                host_os="debian12",
                platform="linux",
                host_target="icelake",
                kernel_version="6.1",
            )
        ).inserted_primary_key[0]
        spec_ids = conn.execute(select(specs.c.id).order_by(specs.c.id)).scalars().all()
        owner = conn.execute(select(func_min_user())).scalar()
        conn.execute(
            builds.insert(),
            [
                {
                    "spec_id": sid,
                    "build_environment_id": env_id,
                    "owner_id": owner,
                    "status": "STARTED",
                    "tags": [],
                    "spack_version": "0.17.1",
                    "created_at": now,
                    "updated_at": now,
                }
                for sid in spec_ids
            ],
        )
        by_spec = dict(conn.execute(select(builds.c.spec_id, builds.c.id)).all())
    store.dispose()
    ids = [by_spec[sid] for sid in spec_ids]
    return token, [ids[t * per_thread : (t + 1) * per_thread] for t in range(threads)]


def func_min_user():  # noqa: ANN201 - a SQLAlchemy expression
    from sqlalchemy import func

    from spackmon_analysis.server.tables import users

    return func.min(users.c.id)


def _run_wrk(
    base: str, bearer: str, folder: Path, args: argparse.Namespace, duration: float
) -> dict:
    cmd = [
        "wrk",
        f"-t{args.threads}",
        f"-c{args.connections}",
        f"-d{duration:g}s",
        "--timeout",
        "30s",
        "-s",
        str(LUA),
        "-H",
        f"Authorization: Bearer {bearer}",
        "-H",
        "Content-Type: application/json",
        base,
        "--",
        str(folder),
    ]
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    line = next(t for t in out.splitlines() if t.startswith("{"))
    got = json.loads(line)
    # wrk is the only child waited for in between (the server is waited for at the end)
    got["wrk_cpu"] = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return got


def bench_workers(admin_url: str, workers: int, args: argparse.Namespace) -> dict:
    """One measurement of ``spackmon serve --workers N`` on a fresh PostgreSQL schema."""
    app_name = "spackmon-bench-" + uuid.uuid4().hex[:8]
    pg_url, drop = _pg_schema(admin_url)
    url = f"{pg_url}&application_name={app_name}"
    per_thread = args.packages
    try:
        token, build_ids = _setup_builds(url, args.threads, per_thread)
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            _write_requests(folder, args.threads, per_thread, build_ids)
            port = _free_port()
            env = {**os.environ, "SPACKMON_TEST_WORKER_HEADER": "1"}
            cmd = [sys.executable, "-m", "spackmon_analysis", "serve", "--port", str(port)]
            cmd += ["--db", url, "--workers", str(workers)]
            proc = subprocess.Popen(cmd, stderr=subprocess.DEVNULL, env=env)
            base = f"http://127.0.0.1:{port}"
            try:
                pids: set[str] = set()
                deadline = time.monotonic() + 120
                while len(pids) < workers:
                    if time.monotonic() > deadline or proc.poll() is not None:
                        raise RuntimeError(f"only {len(pids)} of {workers} workers answered")
                    try:
                        r = requests.get(f"{base}/ms1/", headers={"Connection": "close"}, timeout=5)
                        pids.add(r.headers["x-spackmon-worker"])
                    except requests.ConnectionError:
                        time.sleep(0.1)
                bearer = requests.get(f"{base}/ms1/auth/token/", auth=("bench", token)).json()[
                    "token"
                ]
                _run_wrk(base, bearer, folder, args, args.warmup)  # connections, caches, pools
                backends = _backend_pids(admin_url, app_name)
                server0 = _tree_cpu(proc.pid)
                pg0 = sum(_cpu_seconds(b) for b in backends)
                got = _run_wrk(base, bearer, folder, args, args.duration)
                server = _tree_cpu(proc.pid) - server0
                pg = sum(_cpu_seconds(b) for b in backends) - pg0
            finally:
                proc.send_signal(signal.SIGTERM)
                proc.wait(timeout=60)
    finally:
        drop()
    n = got["requests"]
    seconds = got["duration_us"] / 1e6
    return {
        "workers": workers,
        "requests": n,
        "rps": n / seconds,
        "errors": got["connect"] + got["read"] + got["write"] + got["timeout"],
        "non_2xx": got["status"],
        "server_us": server / n * 1e6,
        "server_cores": server / seconds,
        "pg_us": pg / n * 1e6,
        "pg_backends": len(backends),
        "wrk_us": got["wrk_cpu"] / n * 1e6,
        "p50_ms": got["p50_us"] / 1000,
        "p99_ms": got["p99_us"] / 1000,
        "load": os.getloadavg()[0],
    }


def main_workers(args: argparse.Namespace) -> int:
    import shutil

    if not args.pg:
        print("--workers needs PostgreSQL: --pg URL or SPACKMON_TEST_POSTGRES_URL", file=sys.stderr)
        return 2
    if shutil.which("wrk") is None:
        print("--workers needs wrk (Debian: apt-get install wrk)", file=sys.stderr)
        return 2
    rows = []
    print(
        f"{'round':>5} {'workers':>7} {'requests':>8} {'req/s':>7} {'x 1 worker':>10}"
        f" {'server CPU us/req':>17} {'server cores':>12} {'PG CPU us/req':>13} {'wrk us/req':>10}"
        f" {'p50 ms':>7} {'p99 ms':>7} {'errors':>6} {'non-2xx':>7} {'load':>5}",
        flush=True,
    )
    for rnd in range(args.rounds):
        order = list(args.workers) if rnd % 2 == 0 else list(reversed(args.workers))
        results = {}
        for w in order:
            results[w] = r = bench_workers(args.pg, w, args)
            rows.append((rnd, r))
        base = results.get(1)
        for w in args.workers:
            r = results[w]
            ratio = f"{r['rps'] / base['rps']:.2f}" if base else "-"
            print(
                f"{rnd + 1:>5} {w:>7} {r['requests']:>8} {r['rps']:>7.0f} {ratio:>10}"
                f" {r['server_us']:>17.0f} {r['server_cores']:>12.2f} {r['pg_us']:>13.0f}"
                f" {r['wrk_us']:>10.0f}"
                f" {r['p50_ms']:>7.1f} {r['p99_ms']:>7.1f} {r['errors']:>6} {r['non_2xx']:>7}"
                f" {r['load']:>5.1f}",
                flush=True,
            )
    return 0


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
    parser.add_argument(
        "--workers",
        type=int,
        nargs="+",
        metavar="N",
        help="measure spackmon serve --workers N (each N) on PostgreSQL with wrk instead",
    )
    parser.add_argument("--duration", type=float, default=10.0, help="--workers: wrk seconds")
    parser.add_argument("--warmup", type=float, default=2.0, help="--workers: warm-up seconds")
    parser.add_argument("--connections", type=int, default=16, help="--workers: wrk connections")
    parser.add_argument("--threads", type=int, default=1, help="--workers: wrk threads")
    parser.add_argument("--rounds", type=int, default=2, help="--workers: alternating rounds")
    args = parser.parse_args()
    if args.workers:
        if args.packages == 300:
            args.packages = 6000  # per wrk thread: more than a run sends, so builds/new creates
        return main_workers(args)
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
