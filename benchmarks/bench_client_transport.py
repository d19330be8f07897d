"""Benchmark: the client's CPU per request against plain ``requests`` in the same run.

Two answers, each fetched over one keep-alive connection: ``GET /ms1/`` from ``spackmon
serve`` (a small JSON answer) and a 1 MB JSON answer from a static file server (both in
their own processes, so only the client's work is counted). The baseline is
``requests.Session().get(url).json()`` with requests' defaults; the client is
``SpackMonitorClient(...).service_info()`` (deadline watchdog, size cap, retries ready, the
body read through ``Response.raw``). Prints client CPU (``time.process_time``) per request
and the ratio client / baseline, round by round, interleaved.

Run: ``python benchmarks/bench_client_transport.py [--rounds 3] [--requests 2000]``.
"""

from __future__ import annotations

import argparse
import json
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).parent))
from bench_client import ServerProcess  # noqa: E402

from spackmon_analysis.client import SpackMonitorClient  # noqa: E402


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _cpu_per_request(call: Callable[[], object], n: int) -> float:
    call()  # connect first
    start = time.process_time()
    for _ in range(n):
        call()
    return 1000 * (time.process_time() - start) / n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--requests", type=int, default=2000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-transport-") as tmp:
        root = Path(tmp)
        (root / "static" / "ms1").mkdir(parents=True)
        big = {"rows": ["x" * 100] * 10000}
        (root / "static" / "ms1" / "index.html").write_text(json.dumps(big))
        port = _free_port()
        static = subprocess.Popen(
            [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"],
            cwd=root / "static",
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            with ServerProcess(root) as server:
                static_url = f"http://127.0.0.1:{port}"
                time.sleep(1)
                cases = [
                    ("GET /ms1/ (small)", server.url, args.requests),
                    ("1 MB answer", static_url, max(20, args.requests // 10)),
                ]
                for label, url, n in cases:
                    for rnd in range(args.rounds):
                        session = requests.Session()
                        get = session.get
                        target = url + "/ms1/"
                        base = _cpu_per_request(lambda g=get, u=target: g(u).json(), n)
                        client = SpackMonitorClient(host=url, progress=False)
                        ours = _cpu_per_request(client.service_info, n)
                        client.close()
                        session.close()
                        print(
                            f"{label}, round {rnd + 1}: requests {base:.3f} ms, client "
                            f"{ours:.3f} ms per request, ratio {ours / base:.2f}",
                            flush=True,
                        )
        finally:
            static.terminate()
            static.wait(timeout=30)


if __name__ == "__main__":
    main()
