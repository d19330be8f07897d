"""Dashboard summaries at scale (issue 15): ``database_summary`` (SQL ``GROUP BY`` in the
database) against the pandas functions on loaded frames, for a million builds in PostgreSQL.

The database is ``benchmarks/bench_scale.py``'s generated server database (its ``seed``: a
million builds, six million phases, ten weeks of ``created_at``); a schema it kept
(``bench_scale_<n>``, ``--keep`` there) of the current schema version is reused, else one is
generated into
``bench_summary_<n>`` (dropped afterwards unless ``--keep``).

Three questions a dashboard asks: failure rates per package, per package and compiler, and per
day and compiler. Each side runs in a fresh process and reports wall time and peak RSS:

- ``sql``: the three ``database_summary`` calls;
- ``pandas``: ``MonitorData.from_database`` of the columns the questions need, then
  ``failure_rates`` x2 and ``failure_trends``; the load and the pandas functions are timed
  apart.

Figures: ``sql`` time / (load + pandas) time, ``sql`` time / pandas-only time (frames already
in memory), and the peak RSS of each; the answers are compared (``assert_frame_equal``) and the
comparison reported.

Run: ``python benchmarks/bench_summary.py [--builds 1000000] [--repeats 1] [--keep]``.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

QUESTIONS = (
    ("rates by package", {"by": "spec_name"}),
    ("rates by package and compiler", {"by": ["spec_name", "compiler"]}),
    ("trend by day and compiler", {"by": "compiler", "freq": "day"}),
)
#: What the pandas side loads (the questions' columns; ``from_database(columns=...)``).
COLUMNS = ["spec_name", "spec_version", "compiler", "status", "outcome", "created_at", "run_time"]


def child(side: str, url: str, out: str) -> None:
    import gc

    import pandas  # noqa: F401  (imports are not part of either side)

    from spackmon_analysis import failure_rates, failure_trends
    from spackmon_analysis.dashboard import database_summary
    from spackmon_analysis.frames import MonitorData

    gc.collect()
    answers = []
    result: dict = {}
    start = time.perf_counter()
    if side == "sql":
        for _name, kwargs in QUESTIONS:
            answers.append(database_summary(url, **kwargs))
    else:
        data = MonitorData.from_database(url, columns=COLUMNS)
        result["load_seconds"] = time.perf_counter() - start
        result["builds"] = len(data.builds)
        result["phases"] = len(data.phases)
        analysis = time.perf_counter()
        for _name, kwargs in QUESTIONS:
            if "freq" in kwargs:
                answers.append(failure_trends(data, kwargs["freq"], kwargs["by"]))
            else:
                answers.append(failure_rates(data, kwargs["by"]))
        result["pandas_seconds"] = time.perf_counter() - analysis
    result["seconds"] = time.perf_counter() - start
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    result["groups"] = [len(a) for a in answers]
    with open(out, "wb") as f:
        pickle.dump(answers, f)
    print(json.dumps(result))


def _run(side: str, url: str, out: str) -> dict:
    cmd = [sys.executable, __file__, "--child", side, "--child-url", url, "--child-out", out]
    done = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", default=os.environ.get("SPACKMON_TEST_POSTGRES_URL"))
    parser.add_argument("--builds", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--keep", action="store_true", help="keep the generated schema")
    parser.add_argument("--child", choices=("sql", "pandas"), help=argparse.SUPPRESS)
    parser.add_argument("--child-url", help=argparse.SUPPRESS)
    parser.add_argument("--child-out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.child_url, args.child_out)
        return
    if not args.url:
        parser.error("--url (or SPACKMON_TEST_POSTGRES_URL): a PostgreSQL URL")
    import pandas as pd
    from bench_scale import schema_url, seed
    from sqlalchemy import create_engine, text

    from spackmon_analysis.server.tables import SCHEMA_VERSION, meta

    schema, generated = f"bench_scale_{args.builds}", False
    admin = create_engine(args.url)
    with admin.connect() as conn:
        present = {
            r[0] for r in conn.execute(text("SELECT schema_name FROM information_schema.schemata"))
        }
        version = None
        if schema in present:  # a kept database of an older schema is not reused
            try:
                version = conn.execute(
                    text(f"SELECT value FROM {schema}.{meta.name} WHERE key = 'schema_version'")
                ).scalar()
            except Exception:  # no such table: not a server database
                version = None
    admin.dispose()
    if version == str(SCHEMA_VERSION):
        print(f"reusing schema {schema} (bench_scale.py --keep)")
    else:
        schema, generated = f"bench_summary_{args.builds}", True
        start = time.perf_counter()
        print(f"generating {args.builds:,} builds into schema {schema} ...", flush=True)
        counts = seed(args.url, schema, args.builds)
        print(f"  done in {time.perf_counter() - start:.0f} s: {counts}", flush=True)
    url = schema_url(args.url, schema)
    runs: dict[str, list[dict]] = {"sql": [], "pandas": []}
    same = True
    tmp = tempfile.mkdtemp(prefix="bench-summary-")
    try:
        for _ in range(args.repeats):
            outs = {}
            for side in ("sql", "pandas"):  # interleaved
                outs[side] = str(Path(tmp) / f"{side}.pickle")
                result = _run(side, url, outs[side])
                runs[side].append(result)
                print(f"  {side}: {result}", flush=True)
            with open(outs["sql"], "rb") as f:
                sql_answers = pickle.load(f)
            with open(outs["pandas"], "rb") as f:
                pandas_answers = pickle.load(f)
            for (name, _), got, expected in zip(
                QUESTIONS, sql_answers, pandas_answers, strict=True
            ):
                try:
                    pd.testing.assert_frame_equal(got, expected)
                except AssertionError as exc:
                    same = False
                    print(f"  DIFFERENT answers for {name}: {str(exc)[:300]}")
    finally:
        if generated and not args.keep:
            admin = create_engine(args.url)
            with admin.begin() as conn:
                conn.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
            admin.dispose()
    sql_t = statistics.median(r["seconds"] for r in runs["sql"])
    load_t = statistics.median(r["load_seconds"] for r in runs["pandas"])
    pandas_t = statistics.median(r["pandas_seconds"] for r in runs["pandas"])
    total_t = statistics.median(r["seconds"] for r in runs["pandas"])
    sql_m = statistics.median(r["peak_rss_mb"] for r in runs["sql"])
    pandas_m = statistics.median(r["peak_rss_mb"] for r in runs["pandas"])
    first = runs["pandas"][0]
    print(f"\n{first['builds']:,} builds, {first['phases']:,} phases; {args.repeats} round(s)")
    print(f"sql (3 questions):            {sql_t:8.2f} s, peak RSS {sql_m:8,.0f} MB")
    print(
        f"pandas: load {load_t:8.2f} s + functions {pandas_t:6.2f} s = {total_t:8.2f} s, "
        f"peak RSS {pandas_m:8,.0f} MB"
    )
    print(f"sql / (load + pandas):        {sql_t / total_t:8.3f}x")
    print(f"sql / pandas functions alone: {sql_t / pandas_t:8.3f}x")
    print(f"sql / pandas peak RSS:        {sql_m / pandas_m:8.3f}x")
    print(f"same answers: {'yes' if same else 'NO'}")


if __name__ == "__main__":
    main()
