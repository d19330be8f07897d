"""Server rows -> frames: ``from_database`` and the ``from_client`` assembly on one database.

Both constructors go through ``loaders.server.ServerColumns`` (issue 11: one way for server
rows). A seeded server database (``bench_frames.seed_database``: ``--builds`` builds, six
phases each, Spack-style logs, the error/warning rows the server stores) is read three ways,
each in the same process, interleaved, ``--repeats`` times (medians):

- baseline: ``sqlite3`` ``fetchall`` of the six queries the data API runs (same joins);
- ``MonitorData.from_database`` (pages of the tables into the columns, one assembly);
- ``rows -> frames``: ``MonitorData.from_frames(loaders.server.rows_frames(rows))`` on the
  data API's rows of the same database (``server.queries.read_rows``, read once beforehand):
  what ``from_client`` does after its HTTP pulls.

Run it with ``PYTHONPATH`` at another checkout to compare versions on the same file
(``--db PATH`` keeps and reuses the seeded database).
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_frames import _fetchall, seed_database  # noqa: E402

ROUTES = ("specs", "dependencies", "builds", "buildphases", "builderrors", "buildwarnings")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--builds", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--db", help="database file to use (seeded when missing)")
    args = parser.parse_args()

    from spackmon_analysis.frames import MonitorData
    from spackmon_analysis.loaders.server import rows_frames
    from spackmon_analysis.server.queries import read_rows

    tmp = None
    if args.db:
        db = Path(args.db)
    else:
        tmp = tempfile.TemporaryDirectory(prefix="bench-server-rows-")
        db = Path(tmp.name) / "spackmon.db"
    try:
        if not db.exists():
            print(f"seeding {db}: {seed_database(db, args.builds)}", flush=True)
        url = f"sqlite:///{db}"
        rows = {route: list(read_rows(url, route)) for route in ROUTES}

        def from_rows() -> int:
            frames = rows_frames(rows, source="server", label="rows", keep_output=True)
            return len(MonitorData.from_frames(frames).phases)

        def from_database() -> int:
            return len(MonitorData.from_database(url).phases)

        variants = {
            "baseline: sqlite3 fetchall of the 6 queries": lambda: _fetchall(str(db)),
            "MonitorData.from_database": from_database,
            "rows -> frames (from_client after its pulls)": from_rows,
        }
        times: dict[str, list[float]] = {name: [] for name in variants}
        phases = {}
        for _ in range(args.repeats):
            for name, fn in variants.items():
                gc.collect()
                start = time.perf_counter()
                phases[name] = fn()
                times[name].append(time.perf_counter() - start)
        assert (
            phases["MonitorData.from_database"]
            == phases["rows -> frames (from_client after its pulls)"]
        ), phases
        base = statistics.median(times["baseline: sqlite3 fetchall of the 6 queries"])
        print(f"{len(rows['builds'])} builds, {len(rows['buildphases'])} phases; medians of "
              f"{args.repeats}, ratio to the baseline")  # fmt: skip
        for name, values in times.items():
            median = statistics.median(values)
            print(f"{name:46s} {median:7.2f} s  {median / base:5.2f}x")
    finally:
        if tmp is not None:
            tmp.cleanup()


if __name__ == "__main__":
    main()
