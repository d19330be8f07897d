"""Stalls and pathological logs (issue 14).

Two parts, both reported as figures of this run:

1. **Stall**: ``spackmon serve`` runs in its own process (fresh SQLite file, or ``--db URL``).
   A prober client asks ``GET /ms1/`` and ``GET /api/builds/?limit=5`` in turn every 20 ms
   while another client uploads, one at a time: a one-line phase output of ``"error "`` x
   32,000 (192 kB), an error-dense 50 MB log, and a 200,000-node spec (targets as plain names,
   so it fits the default 100 MiB body limit). The baseline is the same prober on the idle
   server; the figures are the worst and 99th-percentile answer times during each upload (the
   target: every answer within 1 s), the upload's own time and the server's peak memory.

2. **Parser**: ``parse_log`` on the pathological lines of the issue (``"error "`` x 32,000 and
   ``"sh libtool --a --b error "`` x 32,000, one line each) as a ratio to a normal build log
   of the same size (``bench_logs.generate_log``), both in this run (target: at most 2x); the
   error-dense 50 MB log against a normal 50 MB log; and the peak memory of parsing a 200 MB
   error-dense log given as text, in a child process, as a multiple of the log's size
   (target: within 3x, text included).

Usage::

    python benchmarks/bench_stall.py [--db URL] [--nodes 200000] [--dense-mb 50]
        [--skip-200mb] [--skip-parser] [--skip-stall]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

import requests  # noqa: E402
from bench_logs import generate_log  # noqa: E402

from spackmon_analysis.logs import parse_log  # noqa: E402
from spackmon_analysis.synth import generate_spec_document  # noqa: E402

ENV = {
    "host_os": "ubuntu22.04",
    "platform": "linux",
    "host_target": "zen3",
    "hostname": "bench",
    "kernel_version": "6.1",
}


def dense_log(megabytes: float) -> str:
    """Every line a distinct compiler error (about 75 bytes a line)."""
    lines = []
    size = 0
    i = 0
    target = int(megabytes * 1_000_000)
    while size < target:
        line = f"src/f{i}.c:{i}:7: error: 'x{i}' undeclared (first use in this function)\n"
        lines.append(line)
        size += len(line)
        i += 1
    return "".join(lines)


def lean_spec(n_nodes: int) -> dict:
    """A v4 spec document without the bulky optional parts (targets as plain names, no package
    hashes, no empty flag lists): about 450 bytes a node in compact JSON, so 200,000 nodes fit
    the default 100 MiB body limit."""
    doc = generate_spec_document(n_nodes, era="v4", seed=3)
    for node in doc["spec"]["nodes"]:
        target = node["arch"]["target"]
        node["arch"]["target"] = target["name"] if isinstance(target, dict) else target
        node.pop("package_hash", None)
        node["parameters"] = {k: v for k, v in node["parameters"].items() if v != []}
    return doc


class Prober:
    def __init__(self, urls: list[str], every: float = 0.02):
        self.urls = urls
        self.every = every
        self.times: list[float] = []
        self.errors = 0
        self.fivexx = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        s = requests.Session()
        i = 0
        while not self._stop.is_set():
            start = time.perf_counter()
            try:
                r = s.get(self.urls[i % len(self.urls)], timeout=120)
                if r.status_code >= 500:
                    self.fivexx += 1
            except requests.RequestException:
                self.errors += 1
            self.times.append(time.perf_counter() - start)
            i += 1
            self._stop.wait(self.every)

    def __enter__(self) -> Prober:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def summary(self) -> dict:
        t = sorted(self.times)
        p99 = t[min(len(t) - 1, int(len(t) * 0.99))] if t else float("nan")
        return {
            "requests": len(t),
            "worst_s": round(t[-1], 3) if t else None,
            "p99_s": round(p99, 3),
            "median_s": round(statistics.median(t), 4) if t else None,
            "errors": self.errors,
            "5xx": self.fivexx,
        }


def _status(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024
    return 0


def stall(db: str | None, nodes: int, dense_mb: float) -> dict:
    tmp = tempfile.mkdtemp(prefix="bench-stall-")
    url = db or f"sqlite:///{tmp}/stall.db"
    env = {**os.environ, "PYTHONPATH": str(HERE.parent)}
    cmd = [sys.executable, "-m", "spackmon_analysis"]
    token = subprocess.run(
        [*cmd, "users", "add", "bench", "--db", url],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    ).stdout.strip()
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    log = open(Path(tmp) / "serve.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen(
        [*cmd, "serve", "--db", url, "--port", str(port)], stdout=log, stderr=log, env=env
    )
    base = f"http://127.0.0.1:{port}/ms1"
    try:
        for _ in range(300):
            try:
                if requests.get(base + "/", timeout=1).status_code == 200:
                    break
            except requests.RequestException:
                time.sleep(0.1)
        s = requests.Session()
        tok = s.get(f"{base}/auth/token/", auth=("bench", token)).json()["token"]
        s.headers["Authorization"] = "Bearer " + tok
        small = generate_spec_document(20, era="v4", seed=9)
        r = s.post(f"{base}/specs/new/", data=json.dumps({"spec": small, "spack_version": "0.22"}))
        root = small["spec"]["nodes"][0]["hash"]
        r = s.post(
            f"{base}/builds/new/",
            data=json.dumps({**ENV, "spack_version": "0.22", "full_hash": root}),
        )
        build_id = r.json()["data"]["build"]["build_id"]
        probes = [base + "/", f"http://127.0.0.1:{port}/api/builds/?limit=5"]
        results: dict = {}
        with Prober(probes) as idle:
            time.sleep(3)
        results["idle server (baseline)"] = idle.summary()
        print("building the uploads ...", file=sys.stderr, flush=True)
        uploads = [
            (
                "one-line phase output, 'error ' x 32,000 (192 kB)",
                "builds/phases/update/",
                {
                    "build_id": build_id,
                    "phase_name": "p1",
                    "status": "ERROR",
                    "output": "error " * 32_000,
                },
            ),
            (
                f"error-dense log, {dense_mb:g} MB",
                "builds/phases/update/",
                {
                    "build_id": build_id,
                    "phase_name": "p2",
                    "status": "ERROR",
                    "output": dense_log(dense_mb),
                },
            ),
            (
                f"{nodes:,}-node spec",
                "specs/new/",
                {"spec": lean_spec(nodes), "spack_version": "0.22"},
            ),
        ]
        for what, path, body in uploads:
            raw = json.dumps(body, separators=(",", ":")).encode()
            del body
            print(f"uploading {what} ({len(raw) / 1e6:.1f} MB) ...", file=sys.stderr, flush=True)
            with Prober(probes) as prober:
                start = time.perf_counter()
                r = s.post(f"{base}/{path}", data=raw, timeout=1800)
                took = time.perf_counter() - start
            results[what] = {
                **prober.summary(),
                "upload_status": r.status_code,
                "upload_s": round(took, 2),
                "body_mb": round(len(raw) / 1e6, 1),
            }
            del raw
        results["server peak RSS MB"] = round(_status(proc.pid, "VmHWM") / 1e6)
        return results
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


MEMORY = r"""
import sys
from pathlib import Path
sys.path.insert(0, sys.argv[2])
from spackmon_analysis.logs import parse_log

def peak():  # peak resident memory (VmHWM) since the last reset, bytes
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024

# the peak is inherited from the parent through fork and kept across exec: reset it to the
# memory in use now ("5" to clear_refs, Linux >= 4.0)
Path("/proc/self/clear_refs").write_text("5")
start = peak()
if sys.argv[3] == "text":
    # as the server has it: the log as one str (the read itself peaks at bytes + str)
    text = Path(sys.argv[1]).read_bytes().decode("utf-8")
    size = len(text)
    Path("/proc/self/clear_refs").write_text("5")
    base = peak()
    events = parse_log(text)
else:
    size = Path(sys.argv[1]).stat().st_size
    base = start
    events = parse_log(Path(sys.argv[1]))
print(size, start, base, peak(), len(events), sum(events.dropped.values()))
"""


def parser(skip_200mb: bool, dense_mb: float) -> dict:
    out: dict = {}
    tmp = Path(tempfile.mkdtemp(prefix="bench-parser-"))
    for name, piece in (
        ("'error ' x 32,000", "error "),
        ("'sh libtool --a --b error ' x 32,000", "sh libtool --a --b error "),
    ):
        line = piece * 32_000 + "\n"
        path = tmp / "normal.log"
        generate_log(path, len(line) / 1e6, seed=5)
        normal = path.read_text()
        best_bad = min(_timed(parse_log, line) for _ in range(5))
        best_norm = min(_timed(parse_log, normal) for _ in range(5))
        out[f"parse {name} ({len(line) / 1e3:.0f} kB)"] = {
            "pathological_ms": round(best_bad * 1e3, 2),
            "normal_same_size_ms": round(best_norm * 1e3, 2),
            "ratio": round(best_bad / best_norm, 2),
        }
    dense = dense_log(dense_mb)
    path = tmp / "normal.log"
    generate_log(path, len(dense) / 1e6, seed=5)
    normal = path.read_text()
    t_dense = _timed(parse_log, dense)
    t_norm = _timed(parse_log, normal)
    out[f"parse error-dense {dense_mb:g} MB"] = {
        "dense_s": round(t_dense, 2),
        "normal_same_size_s": round(t_norm, 2),
        "ratio": round(t_dense / t_norm, 2),
    }
    del dense, normal
    if not skip_200mb:
        big = tmp / "dense200.log"
        big.write_text(dense_log(200))
        for mode in ("text", "path"):
            line = subprocess.run(
                [sys.executable, "-c", MEMORY, str(big), str(HERE.parent), mode],
                capture_output=True,
                text=True,
                check=True,
            ).stdout.split()
            size, start, base, peak, kept, dropped = (int(x) for x in line)
            out[f"parse error-dense 200 MB as {mode}: peak memory"] = {
                "log_MB": round(size / 1e6),
                "interpreter_MB": round(start / 1e6),
                "before_parse_MB": round(base / 1e6),
                "peak_during_parse_MB": round(peak / 1e6),
                "peak_over_log": round(peak / size, 2),
                "parse_growth_over_log": round((peak - base) / size, 2),
                "events_kept": kept,
                "lines_dropped": dropped,
            }
        big.unlink()
    return out


def _timed(fn, *args) -> float:
    start = time.perf_counter()
    fn(*args)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--db", default=None, help="database URL (default: a fresh SQLite file)")
    ap.add_argument("--nodes", type=int, default=200_000)
    ap.add_argument("--dense-mb", type=float, default=50.0)
    ap.add_argument("--skip-200mb", action="store_true")
    ap.add_argument("--skip-stall", action="store_true")
    ap.add_argument("--skip-parser", action="store_true")
    args = ap.parse_args(argv)
    report = {}
    if not args.skip_parser:
        report["parser"] = parser(args.skip_200mb, args.dense_mb)
        print(json.dumps(report, indent=2), flush=True)
    if not args.skip_stall:
        report["stall"] = stall(args.db, args.nodes, args.dense_mb)
        print(json.dumps(report["stall"], indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
