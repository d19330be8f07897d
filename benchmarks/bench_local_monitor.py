"""What a server test pays for its monitor: ``LocalMonitor`` on a port against in-process.

``python benchmarks/bench_local_monitor.py [--starts 20] [--requests 300] [--db URL]``: the
start + two users + stop of a monitor (what the ``mon`` fixture of tests/server does per test)
and three kinds of request (``GET /ms1/``, a data API page, a refused write) through a
``requests.Session``, each measured on a real loopback port (the baseline) and in-process
(``LocalMonitor(in_process=True)``) in the same run, interleaved. Prints CPU time (this
process, the server's threads included) and wall time per operation, and in-process / port
ratios. ``--db`` runs the starts on a database URL (e.g. PostgreSQL: a fresh schema per start is
the test suite's cost, not measured here) instead of a temporary SQLite file.
"""

from __future__ import annotations

import argparse
import resource
import time
from collections.abc import Callable

from spackmon_analysis.server import LocalMonitor


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _measure(fn: Callable[[], object], n: int) -> tuple[float, float]:
    """(CPU seconds, wall seconds) per call of ``fn``, over ``n`` calls."""
    cpu, wall = _cpu(), time.perf_counter()
    for _ in range(n):
        fn()
    return (_cpu() - cpu) / n, (time.perf_counter() - wall) / n


def _start_stop(db: str | None, in_process: bool) -> None:
    with LocalMonitor(db, in_process=in_process) as mon:
        mon.add_user("alice")
        mon.add_user("bob")


def _requests(in_process: bool, n: int) -> dict[str, tuple[float, float]]:
    out = {}
    with LocalMonitor(in_process=in_process) as mon:
        mon.add_user("alice")
        s = mon.session()
        r = s.get(f"{mon.base_url}/auth/token/", auth=("alice", mon.tokens["alice"]))
        s.headers["Authorization"] = "Bearer " + r.json()["token"]
        bad = b'{"build_id": 1, "status": "NOPE"}'
        cases = {
            "GET /ms1/": lambda: s.get(f"{mon.base_url}/"),
            "GET /api/builds/": lambda: s.get(f"{mon.url}/api/builds/"),
            "POST builds/update/ (400)": lambda: s.post(f"{mon.base_url}/builds/update/", data=bad),
        }
        for name, fn in cases.items():
            fn()  # warm
            out[name] = _measure(fn, n)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--starts", type=int, default=20)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--db", default=None)
    args = parser.parse_args()

    _start_stop(None, True)  # imports and first-use costs out of the way
    _start_stop(None, False)
    rows: dict[str, dict[bool, list[tuple[float, float]]]] = {}
    for _round in range(2):  # interleaved: port, in-process, port, in-process
        for in_process in (False, True):
            key = "start + 2 users + stop"
            rows.setdefault(key, {False: [], True: []})[in_process].append(
                _measure(lambda ip=in_process: _start_stop(args.db, ip), args.starts // 2)
            )
            for name, figure in _requests(in_process, args.requests // 2).items():
                rows.setdefault(name, {False: [], True: []})[in_process].append(figure)

    print(
        f"{'operation':28s} {'port cpu/wall ms':>20s} {'in-process cpu/wall ms':>24s}  ratio cpu  wall"
    )
    for name, by_mode in rows.items():
        port = [sum(x[i] for x in by_mode[False]) / len(by_mode[False]) for i in (0, 1)]
        here = [sum(x[i] for x in by_mode[True]) / len(by_mode[True]) for i in (0, 1)]
        print(
            f"{name:28s} {port[0] * 1e3:9.2f} / {port[1] * 1e3:8.2f} "
            f"{here[0] * 1e3:12.2f} / {here[1] * 1e3:8.2f}  "
            f"{here[0] / port[0]:8.2f}x {here[1] / port[1]:5.2f}x"
        )


if __name__ == "__main__":
    main()
