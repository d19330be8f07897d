"""Requests per second of the embedded monitor for the request sequence of `spack install --monitor`.

For every package Spack sends one ``builds/new``, five ``builds/phases/update`` (with the real
phase logs of the save-local fixtures, so the build-log parser runs) and one ``builds/update``.
One client, one ``requests.Session`` (keep-alive), against ``spackmon serve`` started as a separate
process (as in production; client and server each get a core of this 2-core machine).

Baseline, measured in the same run over the same session: the same number of ``GET /ms1/``
(service info: HTTP + framework, no database). The ratio sequence/baseline is the figure to watch.

Usage::

    python benchmarks/bench_server.py [--runs 8] [--pg postgresql+psycopg://...]

PostgreSQL is measured when ``--pg`` or ``SPACKMON_TEST_POSTGRES_URL`` is given (a fresh schema
is created and dropped).
"""

from __future__ import annotations

import argparse
import json
import os
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
SPECS = ROOT / "tests" / "data" / "specs"
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


def _serve(db: str) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "spackmon_analysis", "serve", "--port", str(port), "--db", db],
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


def bench(db: str, runs: int) -> dict:
    """Run the sequence against a fresh database ``db``; returns the figures."""
    from spackmon_analysis.server.auth import add_user
    from spackmon_analysis.server.store import Store

    store = Store.open(db)
    token = add_user(store, "bench")
    store.dispose()
    proc, base = _serve(db)
    try:
        s = requests.Session()
        s.headers["Authorization"] = (
            "Bearer " + s.get(f"{base}/auth/token/", auth=("bench", token)).json()["token"]
        )
        packages = []  # (full_hash, spack_version) of every node of every fixture spec
        for path in sorted(SPECS.glob("*-spack-0.1[789]*.json")) + sorted(
            SPECS.glob("*-spack-0.2*.json")
        ):
            sv = path.name.split("-spack-")[1].split("-")[0].removesuffix(".json")
            body = {"spec": json.loads(path.read_text()), "spack_version": sv}
            s.post(f"{base}/specs/new/", data=json.dumps(body)).raise_for_status()
        for line in s.get(base.rsplit("/", 1)[0] + "/api/specs/all/").iter_lines():
            if line:
                row = json.loads(line)
                packages.append((row["full_hash"], row["spack_version"]))
        outputs = _phase_outputs()
        seq_requests = 0
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
                    data=json.dumps({**env, "spack_version": sv, "full_hash": full_hash}),
                )
                build_id = r.json()["data"]["build"]["build_id"]
                for j, phase in enumerate(PHASES):
                    body = {
                        "build_id": build_id,
                        "phase_name": phase,
                        "status": "SUCCESS",
                        "output": outputs[(i + j) % len(outputs)],
                    }
                    assert (
                        s.post(f"{base}/builds/phases/update/", data=json.dumps(body)).status_code
                        == 200
                    )
                assert (
                    s.post(
                        f"{base}/builds/update/",
                        data=json.dumps({"build_id": build_id, "status": "SUCCESS"}),
                    ).status_code
                    == 200
                )
                seq_requests += 7
        seq = time.perf_counter() - t0
        t0 = time.perf_counter()
        for _ in range(seq_requests):
            s.get(f"{base}/")
        base_t = time.perf_counter() - t0
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    return {
        "requests": seq_requests,
        "packages": len(packages) * runs,
        "sequence_rps": seq_requests / seq,
        "baseline_rps": seq_requests / base_t,
        "ratio": (seq_requests / seq) / (seq_requests / base_t),
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--runs", type=int, default=8, help="install runs (hosts) of every fixture package"
    )
    parser.add_argument(
        "--pg", default=os.environ.get("SPACKMON_TEST_POSTGRES_URL"), help="PostgreSQL URL"
    )
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        rows.append(("sqlite", bench(f"sqlite:///{tmp}/bench.db", args.runs)))
    if args.pg:
        url, drop = _pg_schema(args.pg)
        try:
            rows.append(("postgresql", bench(url, args.runs)))
        finally:
            drop()
    print(f"{'db':<11} {'requests':>8} {'sequence req/s':>15} {'baseline req/s':>15} {'ratio':>6}")
    for name, r in rows:
        print(
            f"{name:<11} {r['requests']:>8} {r['sequence_rps']:>15.0f} {r['baseline_rps']:>15.0f} {r['ratio']:>6.2f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
