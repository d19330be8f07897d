"""What the failure-marker term of the outcome rule costs the database summary (issue 12).

``database_summary`` computes each build's outcome in SQL (``loaders/summary.py``); since a
failure marker's tags decide it too (status ``FAILED``, tag ``failure-marker``, not
``blocked``), a ``FAILED`` build without an ``ERROR`` phase is checked for the tag with an
``EXISTS`` over its JSON tags. This times the summary's three dashboard questions of
``bench_summary.py`` with the current ``outcome_counts`` (candidate) and with the module as it
was before the term (baseline, read from git at ``--before``), interleaved round by round, in
one process, on the same database.

The database: ``bench_scale.py``'s generated server database in schema
``bench_scale_<builds>`` (kept by ``bench_scale.py --keep``), read only; without it, one is
generated into ``bench_marker_<builds>`` and dropped afterwards.

Run: ``python benchmarks/bench_marker_outcome.py [--builds 100000] [--rounds 5]``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
import types
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

QUESTIONS = (
    ("rates by package", {"by": ["spec_name"]}),
    ("rates by package and compiler", {"by": ["spec_name", "compiler"]}),
    ("trend by day and compiler", {"by": ["compiler"], "freq": "day"}),
)


def _before_rev() -> str:
    """The commit before the one that brought the marker term into ``loaders/summary.py``."""
    out = subprocess.run(
        ["git", "log", "--format=%H", "-S", "FAILURE_MARKER_TAG", "--",
         "spackmon_analysis/loaders/summary.py"],  # fmt: skip
        cwd=ROOT, capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    if not out:
        raise SystemExit("no commit adds the marker term to loaders/summary.py: pass --before")
    return f"{out[-1]}^"


def _module_at(rev: str) -> Any:
    """``spackmon_analysis.loaders.summary`` as it was at ``rev`` (its relative imports
    resolve to today's package: only the summary's own SQL differs)."""
    source = subprocess.run(
        ["git", "show", f"{rev}:spackmon_analysis/loaders/summary.py"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    module = types.ModuleType("spackmon_analysis.loaders._summary_before")
    module.__package__ = "spackmon_analysis.loaders"
    exec(compile(source, f"summary.py@{rev}", "exec"), module.__dict__)
    return module


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default=os.environ.get("SPACKMON_TEST_POSTGRES_URL"))
    parser.add_argument("--builds", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--before", help="git revision of the baseline (default: found by git)")
    args = parser.parse_args()
    if not args.url:
        parser.error("--url (or SPACKMON_TEST_POSTGRES_URL): a PostgreSQL URL")
    from bench_scale import schema_url, seed
    from sqlalchemy import create_engine, text

    from spackmon_analysis.loaders import summary as candidate
    from spackmon_analysis.server.tables import SCHEMA_VERSION, meta

    baseline = _module_at(args.before or _before_rev())
    schema, generated = f"bench_scale_{args.builds}", False
    admin = create_engine(args.url)
    with admin.connect() as conn:
        try:
            version = conn.execute(
                text(f"SELECT value FROM {schema}.{meta.name} WHERE key = 'schema_version'")
            ).scalar()
        except Exception:  # no such schema or table
            version = None
    admin.dispose()
    if version != str(SCHEMA_VERSION):
        schema, generated = f"bench_marker_{args.builds}", True
        print(f"generating {args.builds:,} builds into schema {schema} ...", flush=True)
        seed(args.url, schema, args.builds)
    url = schema_url(args.url, schema)
    times: dict[str, list[float]] = {"baseline": [], "candidate": []}
    loads: list[float] = []
    try:
        engine = create_engine(url)
        with engine.connect() as conn:
            failed_no_error = conn.execute(
                text(
                    "SELECT count(*) FROM builds b WHERE b.status = 'FAILED' AND NOT EXISTS "
                    "(SELECT 1 FROM build_phases p WHERE p.build_id = b.id AND p.status = 'ERROR')"
                )
            ).scalar()
            total = conn.execute(text("SELECT count(*) FROM builds")).scalar()
        print(f"{total:,} builds, {failed_no_error:,} FAILED without an ERROR phase")
        for k in range(args.rounds):
            order = ("baseline", "candidate") if k % 2 == 0 else ("candidate", "baseline")
            answers = {}
            for side in order:
                module = baseline if side == "baseline" else candidate
                start = time.perf_counter()
                answers[side] = [
                    module.outcome_counts(engine, q["by"], freq=q.get("freq")) for _, q in QUESTIONS
                ]
                times[side].append(time.perf_counter() - start)
            loads.append(os.getloadavg()[0])
            same = answers["baseline"] == answers["candidate"]
            print(
                f"round {k + 1}: baseline {times['baseline'][-1]:.2f} s, candidate "
                f"{times['candidate'][-1]:.2f} s, same answers: {same}, load {loads[-1]:.1f}",
                flush=True,
            )
        engine.dispose()
    finally:
        if generated:
            admin = create_engine(args.url)
            with admin.begin() as conn:
                conn.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
            admin.dispose()
    ratios = [c / b for b, c in zip(times["baseline"], times["candidate"], strict=True)]
    print(
        f"\nbaseline median {statistics.median(times['baseline']):.2f} s "
        f"({min(times['baseline']):.2f}-{max(times['baseline']):.2f}); candidate median "
        f"{statistics.median(times['candidate']):.2f} s "
        f"({min(times['candidate']):.2f}-{max(times['candidate']):.2f})"
    )
    print(
        f"candidate / baseline per round: median {statistics.median(ratios):.3f}x "
        f"(range {min(ratios):.3f}-{max(ratios):.3f}); load average "
        f"{min(loads):.1f}-{max(loads):.1f}"
    )


if __name__ == "__main__":
    main()
